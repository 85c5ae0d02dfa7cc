"""The bridging mode's parts on their own: reading short answers, leaving the queue, and delete-my-data."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from bot.bridge.phrases import Answer, default_phrases
from bot.config import Settings
from bot.gateway import PIPELINE, STORE
from bot.handover import Handover
from bot.store import Bridge, Store
from tests.helpers import chat, gateway, new_user
from tests.test_webchat import dead_rasa

PHRASES = default_phrases()


@pytest.mark.parametrize(("text", "expected"), [
    ("có", Answer.YES), ("dạ có ạ", Answer.YES), ("uk", Answer.YES), ("ừ", Answer.YES), ("e có", Answer.YES),
    ("/affirm", Answer.YES), ("rồi", Answer.YES),
    ("ko", Answer.NO), ("Không", Answer.NO), ("k", Answer.NO), ("chưa, e chỉ buồn thôi", Answer.NO),
    ("/deny", Answer.NO), ("hong", Answer.NO),
    ("e ko biết", Answer.UNSURE), ("chắc vậy", Answer.UNSURE),
    ("ko sao đâu, đùa thôi 😅", Answer.RETRACT), ("đùa thôi mà", Answer.RETRACT),
    # not answers: questions and stories that merely start with "có"/"ko"
    ("có nên chuyển tiền ko??", Answer.OTHER), ("ko biết làm sao để lấy lại nick", Answer.OTHER),
    ("e ko muốn sống nữa", Answer.OTHER), ("gọi 111 có mất tiền ko", Answer.OTHER),
])
def test_short_answers_are_read_as_children_write_them(text: str, expected: Answer) -> None:
    assert PHRASES.answer(text) is expected


@pytest.mark.parametrize(("text", "expected"), [
    ("e an toàn, e đang ở với mẹ", Answer.YES), ("ổn rồi", Answer.YES), ("ko sao đâu", Answer.YES),
    ("ko", Answer.NO), ("không an toàn", Answer.NO), ("chưa", Answer.NO), ("e ko biết", Answer.UNSURE),
])
def test_are_you_safe_right_now(text: str, expected: Answer) -> None:
    assert PHRASES.answer(text, safety_question=True) is expected


def test_leave_stop_skip_and_not_safe() -> None:
    for text in ("hủy", "huỷ", "không cần nữa", "thôi ko cần nữa đâu", "Hủy ạ"):
        assert PHRASES.wants_to_leave_queue(text), text
    for text in ("hủy báo cáo đi", "không cần biết", "có cần gọi 111 ko"):
        assert not PHRASES.wants_to_leave_queue(text), text
    assert PHRASES.wants_to_stop("dừng lại") and PHRASES.wants_to_skip("bỏ qua")
    assert PHRASES.says_not_safe("t ko an toan bay h 😰") and not PHRASES.says_not_safe("an toàn mạng là gì")
    for text in ("cứu t với", "cứu", "help", "giúp mình với!!", "Cứu em với ạ"):
        assert PHRASES.cries_for_help(text), text
    assert not PHRASES.cries_for_help("giúp mình làm bài tập với")


def test_leaving_the_queue_closes_a_light_case_and_keeps_a_serious_one(any_store: Store, settings: Settings) -> None:
    handover = Handover(any_store, settings)
    light, serious = any_store.contact("webchat", new_user()), any_store.contact("webchat", new_user())
    handover.open_escalation(light.id, "none", "request_human")
    handover.open_escalation(serious.id, "high", "safety", ["suicidal_ideation"])
    assert handover.leave_queue(light.id).status == "resolved"
    assert handover.open_case_for(light.id) is None
    kept = handover.leave_queue(serious.id)
    assert kept.status == "open" and handover.open_case_for(serious.id).id == kept.id  # a person still reads it
    assert {any_store.contact_by_id(c.id).state for c in (light, serious)} == {"bot"}
    # Back in the queue only by what a message itself says, not by its context.
    handover.open_escalation(serious.id, "high", "safety", ["follows_high_risk"], rejoin=False)
    assert any_store.contact_by_id(serious.id).state == "bot"
    handover.open_escalation(serious.id, "high", "safety", ["suicidal_ideation"])
    assert any_store.contact_by_id(serious.id).state == "waiting_human"
    assert handover.leave_queue(new_user_contact(any_store)) is None


def new_user_contact(store: Store) -> int:
    return store.contact("webchat", new_user()).id


async def test_delete_my_data_deletes_the_safety_plan_too(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        child, store = new_user(), client.app[STORE]
        await chat(client, child, "e ko muốn sống nữa")
        await chat(client, child, "/safety_plan")
        await chat(client, child, "mất ngủ")
        contact = store.find_contact("webchat", child)
        assert "mất ngủ" in store.bridge(contact.id).plan
        assert await chat(client, child, "/xoa")
        with store.session() as s:
            assert s.scalar(select(Bridge).where(Bridge.contact_id == contact.id)) is None
        assert client.app[PIPELINE].handover.history_for(contact.id) == []


async def test_a_person_owns_it_then_nothing_automated_is_said_even_to_a_risky_message(settings: Settings) -> None:
    from tests.test_handover import staff

    async with gateway(dead_rasa(settings)) as client:
        child, store, pipeline = new_user(), client.app[STORE], client.app[PIPELINE]
        await chat(client, child, "e buồn lắm")
        contact = store.find_contact("webchat", child)
        case = pipeline.handover.open_escalation(contact.id, "concern", "request_human").escalation
        pipeline.handover.claim(case.id, staff(store).counsellor_id)
        assert await chat(client, child, "tối nay e sẽ tự tử") == []  # the counsellor sees it, flagged
        assert pipeline.handover.escalation(case.id).risk == "imminent"


async def test_a_disclosure_that_raises_an_open_case_still_names_111(settings: Settings) -> None:
    """The duty notice (with 111) follows a new case only; a raised one must carry 111 in the safety reply."""
    async with gateway(dead_rasa(settings)) as client:
        child, store, pipeline = new_user(), client.app[STORE], client.app[PIPELINE]
        await chat(client, child, "chào")
        contact = store.find_contact("webchat", child)
        pipeline.handover.open_escalation(contact.id, "none", "request_human")  # asked for a person earlier
        for text in ("e muốn chết", "nó dọa tung ảnh nóng của e nếu e ko chuyển tiền", "e ko muốn sống nữa"):
            replies = [r["text"] for r in await chat(client, child, text)]
            assert replies and any("111" in r for r in replies), (text, replies)
