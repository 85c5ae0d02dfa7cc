"""The report form with the real Rasa (its conversation stories run in test_conversations.py): whole reports
through the local web chat (gateway -> safety screen -> Rasa -> action server -> the same database)."""

from __future__ import annotations

import dataclasses
import re

import aiohttp
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from bot.config import Settings
from bot.gateway import HANDOVER, STORE, TEXTS
from bot.store import Escalation, Report
from tests.conftest import RasaServer
from tests.helpers import chat, gateway, new_user

CODE_RE = re.compile(r"BC-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}")


class Reporter:
    """One person on the web chat: types, or presses a button of the last question."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.user = new_user()
        self.last: list[dict] = []

    async def says(self, text: str) -> str:
        self.last = await chat(self.client, self.user, text)
        assert self.last, f"no reply to {text!r}"
        return "\n".join(reply["text"] for reply in self.last)

    async def presses(self, title: str) -> str:
        buttons = {b["title"]: b["payload"] for reply in self.last for b in reply["buttons"]}
        assert title in buttons, f"no button {title!r} in {list(buttons)}"
        return await self.says(buttons[title])

    @property
    def contact_id(self) -> int:
        return self.client.app[STORE].find_contact("webchat", self.user).id


def through_rasa(settings: Settings, rasa_server: RasaServer) -> Settings:
    # The action server writes reports and cases into the database the gateway reads.
    return dataclasses.replace(settings, rasa_url=rasa_server.url, database_url=rasa_server.database_url)


async def test_a_report_from_start_to_finish_then_its_status_in_chat(
    settings: Settings, rasa_server: RasaServer
) -> None:
    async with gateway(through_rasa(settings, rasa_server)) as client:
        child = Reporter(client)
        assert "xảy ra với ai" in await child.says("mik mún báo cáo")
        assert "tuổi" in await child.says("mik")
        assert "chuyện gì" in (await child.says("13 tuổi")).lower()
        assert "tuổi" in await child.says("quay lại")  # the age again
        assert "chuyện gì" in (await child.says("14")).lower()
        reply = await child.presses("Bị bắt nạt, chửi bới, bêu xấu")
        assert "Chụp màn hình" in reply or "chụp màn hình" in reply  # advice on evidence, then the next question
        assert "đừng xóa cuộc trò chuyện" in reply and "an toàn" in reply
        assert "tiếp diễn" in await child.presses("An toàn")
        assert "ứng dụng" in await child.presses("Đã chấm dứt")
        assert "khi nào" in await child.says("zalo")
        assert "kể" in await child.says("hôm qua lúc 9h tối")
        assert "liên hệ lại" in await child.says("mấy bạn trong lớp lập nhóm nói xấu mình")
        assert "số điện thoại" in await child.says("có")  # offered, never demanded
        assert "111 hoặc công an" in await child.says("bỏ qua")
        summary = await child.presses("Mình chưa chắc")
        assert "Zalo" in summary and "14–15 tuổi" in summary and "(bỏ qua)" in summary
        assert "sửa câu nào" in await child.presses("Sửa một câu")
        assert "ứng dụng" in await child.presses("Ở đâu")
        summary = await child.says("fb")
        assert "Facebook" in summary and "Zalo" not in summary  # corrected, back at the summary
        done = await child.presses("Gửi báo cáo")
        (code,) = set(CODE_RE.findall(done))
        assert "tư vấn viên" in done and "111" in done

        store = client.app[STORE]
        with store.session() as s:
            row = s.scalars(select(Report).where(Report.code == code)).one()
        assert row.contact_id == child.contact_id and row.status == "new"
        assert (row.reporter_role, row.age_band, row.category, row.platform) == (
            "child", "14_15", "bullying", "Facebook")
        assert (row.child_safe_now, row.ongoing, row.consent_contact, row.consent_share) == ("yes", "no", True, None)
        assert row.occurred_when == "hôm qua lúc 9h tối" and row.callback_phone is None
        assert row.description == "mấy bạn trong lớp lập nhóm nói xấu mình"
        assert client.app[HANDOVER].open_case_for(child.contact_id) is None  # not urgent: reviewed in turn

        status = await child.says(f"kiểm tra mã {code}")
        assert code in status and "chờ tư vấn viên" in status
        assert row.description not in status
        with store.session() as s:
            s.execute(update(Report).where(Report.id == row.id).values(status="in_review"))
        assert "đang được tư vấn viên xem xét" in await child.says(f"{code.lower()} tới đâu rồi")
        assert "BC-" in await child.says("báo cáo của mik tới đâu rồi")  # no code: asked for it


async def test_another_question_pauses_the_report_and_it_can_be_resumed_or_cancelled(
    settings: Settings, rasa_server: RasaServer
) -> None:
    async with gateway(through_rasa(settings, rasa_server)) as client:
        friend = Reporter(client)
        await friend.says("/report_incident")
        assert "tuổi" in await friend.presses("Với bạn của mình")
        reply = await friend.says("số tổng đài bảo vệ trẻ em là số mấy")
        assert "111" in reply and "làm tiếp" in reply  # answered, then offered to continue
        resumed = await friend.presses("Làm tiếp báo cáo")
        assert "vẫn được giữ" in resumed and "tuổi" in resumed  # the question it stopped at
        assert "không lưu lại gì" in await friend.says("hủy")
        with client.app[STORE].session() as s:
            assert s.scalars(select(Report).where(Report.contact_id == friend.contact_id)).all() == []
        assert "không có báo cáo nào" in await friend.says("/skip")  # a stale form button


async def test_distress_mid_report_gets_the_safety_reply_and_the_report_resumes_afterwards(
    settings: Settings, rasa_server: RasaServer
) -> None:
    async with gateway(through_rasa(settings, rasa_server)) as client:
        child = Reporter(client)
        await child.says("/report_incident")
        await child.presses("Với mình")
        await child.presses("11–13 tuổi")
        reply = await child.says("e muốn chết")
        expected = [m.text for m in client.app[TEXTS].render("utter_safety_high")]
        assert [r["text"] for r in child.last][: len(expected)] == expected
        handover = client.app[HANDOVER]
        case = handover.open_case_for(child.contact_id)
        assert (case.risk, case.reason) == ("high", "safety")
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{rasa_server.url}/conversations/{child.contact_id}/tracker") as response:
                tracker = await response.json()
        assert not (tracker.get("active_loop") or {}).get("name")  # the gateway stopped the form
        assert tracker["slots"]["age_band"] == "11_13"  # but kept the answers

        handover.resolve(case.id)  # a counsellor talked with the child and handed back
        reply = await child.says("/report_incident")
        assert "vẫn được giữ" in reply and "chuyện gì" in reply.lower()
        await child.presses("Bị hack, mất tài khoản")
        assert "113" in await child.presses("Không an toàn")  # what to do right now
        await child.presses("Không rõ")
        for _question in ("platform", "occurred_when", "description"):
            await child.says("bỏ qua")
        assert "111" in await child.presses("Không")  # no contact wanted: straight to sharing
        summary = await child.presses("Đồng ý")
        assert "Không an toàn" in summary and "(không có)" in summary
        done = await child.presses("Gửi báo cáo")
        (code,) = set(CODE_RE.findall(done))
        assert "tư vấn viên vào cuộc trò chuyện" in done  # urgent: a person is called

        with client.app[STORE].session() as s:
            report = s.scalars(select(Report).where(Report.code == code)).one()
            cases = s.scalars(select(Escalation).where(Escalation.contact_id == child.contact_id)
                              .order_by(Escalation.id)).all()
        assert (report.category, report.child_safe_now, report.consent_share) == ("hacked_account", "no", True)
        assert (report.platform, report.description) == (None, None)
        assert [(c.reason, c.status, c.report_id) for c in cases] == [
            ("safety", "resolved", None), ("report", "open", report.id)]
