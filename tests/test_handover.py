"""Handover: the state machine and its race-safe claim (SQLite and PostgreSQL), what the child and Rasa see
when a counsellor joins and leaves, opening hours, and re-notification of urgent cases left waiting.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import AsyncIterator, Callable

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from sqlalchemy import update

from bot.config import Settings
from bot.console.auth import Sessions, SessionUser
from bot.console.desk import Desk
from bot.gateway import EVENTS, PIPELINE, STORE, TEXTS
from bot.handover import Handover
from bot.store import Counsellor, Escalation, Store, utcnow
from tests.conftest import RasaServer
from tests.fakes.base import FakeServer
from tests.helpers import chat, gateway, new_user
from tests.test_webchat import dead_rasa

DISTRESS = "ko muon song nua"
ROUNDS = 40


def add_counsellors(store: Store, *names: str) -> list[int]:
    with store.session() as s:
        counsellors = [Counsellor(username=n, display_name=n.title(), password_hash="-", role="counsellor")
                       for n in names]
        s.add_all(counsellors)
    return [c.id for c in counsellors]


def other_connection(store: Store) -> Store:
    """A second engine on the same database: what another gateway or the action server would hold."""
    from bot.store import make_engine

    return Store(make_engine(store.engine.url.render_as_string(hide_password=False)))


def at_once(*calls: Callable[[], object]) -> list[object]:
    """Run the calls in threads released together by a barrier; their results, in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def backdate(store: Store, escalation_id: int, minutes: float) -> None:
    with store.session() as s:
        s.execute(update(Escalation).where(Escalation.id == escalation_id)
                  .values(opened_at=utcnow() - timedelta(minutes=minutes)))


# -- the state machine -------------------------------------------------------------------------------------
def test_bot_waiting_human_bot(any_store: Store, settings: Settings) -> None:
    handover = Handover(any_store, settings)
    (lan,) = add_counsellors(any_store, "lan")
    contact = any_store.contact("webchat", "c" * 20)

    opened = handover.open_escalation(contact.id, "concern", "request_human", ["sadness"])
    assert opened.created and any_store.contact_by_id(contact.id).state == "waiting_human"
    again = handover.open_escalation(contact.id, "high", "safety", ["suicidal_ideation"])
    assert (again.created, again.raised, again.escalation.id) == (False, True, opened.escalation.id)
    case = handover.escalation(opened.escalation.id)
    assert case.risk == "high" and case.signals == '["sadness", "suicidal_ideation"]'

    assert handover.claim(case.id, lan) is True
    assert any_store.contact_by_id(contact.id).state == "human"
    assert handover.claim(case.id, lan) is False  # a case is claimed once
    handover.open_escalation(contact.id, "imminent", "safety")  # raised while a person has it
    assert any_store.contact_by_id(contact.id).state == "human"
    assert handover.escalation(case.id).risk == "imminent"

    handover.record_first_reply(case.id)
    first = handover.escalation(case.id).first_reply_at
    handover.record_first_reply(case.id)
    assert handover.escalation(case.id).first_reply_at == first  # the first reply is timed once

    assert handover.resolve(case.id) == contact.id
    assert any_store.contact_by_id(contact.id).state == "bot"
    assert handover.resolve(case.id) is None
    assert handover.claim(case.id, lan) is False  # a closed case cannot be claimed

    reopened = handover.open_escalation(contact.id, "high", "safety")
    assert reopened.created and reopened.escalation.id != case.id
    assert [e.id for e in handover.history_for(contact.id)] == [case.id, reopened.escalation.id]


def test_queue_is_most_severe_first_then_longest_waiting(any_store: Store, settings: Settings) -> None:
    handover = Handover(any_store, settings)
    (lan,) = add_counsellors(any_store, "lan")
    ids = {}
    for name, risk, waited in (("old-concern", "concern", 30), ("new-high", "high", 1), ("imminent", "imminent", 0),
                               ("old-high", "high", 10), ("no-risk", "none", 50)):
        contact = any_store.contact("telegram", name)
        ids[name] = handover.open_escalation(contact.id, risk, "safety").escalation.id
        backdate(any_store, ids[name], waited)
    order = [e.id for e, _ in handover.queue()]
    assert order == [ids[n] for n in ("imminent", "old-high", "new-high", "old-concern", "no-risk")]
    assert handover.take_next(lan).id == ids["imminent"]
    assert [e.id for e, _ in handover.queue()][0] == ids["old-high"]


# -- races: two counsellors, two connections, one case -----------------------------------------------------
def test_two_counsellors_claiming_at_once_exactly_one_wins(any_store: Store, settings: Settings) -> None:
    lan, hoa = add_counsellors(any_store, "lan", "hoa")
    second = other_connection(any_store)
    try:
        first_handover, second_handover = Handover(any_store, settings), Handover(second, settings)
        winners = []
        for round_ in range(ROUNDS):
            contact = any_store.contact("webchat", f"race-{round_:04d}-{'x' * 12}")
            case = first_handover.open_escalation(contact.id, "high", "safety").escalation
            results = at_once(lambda c=case.id: first_handover.claim(c, lan),
                              lambda c=case.id: second_handover.claim(c, hoa))
            assert sorted(results) == [False, True], f"round {round_}: {results}"
            winner = lan if results[0] else hoa
            assert first_handover.escalation(case.id).claimed_by == winner
            assert any_store.contact_by_id(contact.id).state == "human"
            winners.append(winner)
    finally:
        second.close()
    assert len(winners) == ROUNDS


def test_take_next_at_once_never_gives_one_case_to_two(any_store: Store, settings: Settings) -> None:
    lan, hoa = add_counsellors(any_store, "lan", "hoa")
    second = other_connection(any_store)
    try:
        first_handover, second_handover = Handover(any_store, settings), Handover(second, settings)
        for round_ in range(ROUNDS // 2):
            cases = [first_handover.open_escalation(any_store.contact("zalo_oa", f"t-{round_}-{i}").id, "high",
                                                    "safety").escalation.id for i in range(2 if round_ % 2 else 1)]
            taken = at_once(lambda: first_handover.take_next(lan), lambda: second_handover.take_next(hoa))
            got = sorted(t.id for t in taken if t is not None)
            assert got == sorted(cases), f"round {round_}: {got} for {cases}"  # each case once, none twice
    finally:
        second.close()


def test_renotification_is_due_once_across_gateways(any_store: Store, settings: Settings) -> None:
    first, second_store = Handover(any_store, settings), other_connection(any_store)
    second = Handover(second_store, settings)
    try:
        urgent = first.open_escalation(any_store.contact("telegram", "u1").id, "imminent", "safety").escalation
        mild = first.open_escalation(any_store.contact("telegram", "u2").id, "concern", "safety").escalation
        fresh = first.open_escalation(any_store.contact("telegram", "u3").id, "high", "safety").escalation
        for case in (urgent, mild):
            backdate(any_store, case.id, 6)
        assert [e.id for e in first.due_for_renotify(5)] == [urgent.id]  # concern is never re-announced
        assert fresh.id not in [e.id for e in first.due_for_renotify(5)]
        results = at_once(lambda: first.mark_notified(urgent.id, due_after_minutes=5),
                          lambda: second.mark_notified(urgent.id, due_after_minutes=5))
        assert sorted(results) == [False, True]
        assert first.due_for_renotify(5) == []
    finally:
        second_store.close()


# -- opening hours ------------------------------------------------------------------------------------------
def test_opening_hours_in_the_centres_time_zone(sqlite_store: Store, settings: Settings) -> None:
    office = Handover(sqlite_store, dataclasses.replace(settings, opening_hours="07:30-17:00", opening_days="1-5"))
    monday = datetime(2025, 1, 6, tzinfo=timezone.utc)  # a Monday; Hà Nội is UTC+7
    assert office.is_open(monday + timedelta(hours=1)) is True  # 08:00 local
    assert office.is_open(monday + timedelta(minutes=25)) is False  # 07:25 local
    assert office.is_open(monday + timedelta(hours=10)) is False  # 17:00 local
    assert office.is_open(monday + timedelta(days=5, hours=3)) is False  # Saturday 10:00


# -- what the child and Rasa see --------------------------------------------------------------------------
class FakeRasa(FakeServer):
    """Rasa's REST channel and tracker API, recording every call (the real one is used further down)."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[tuple[str, str]] = []  # (sender, message) sent for a reply
        self.tracker_events: list[tuple[str, list]] = []

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/status", lambda _r: web.json_response({"model_file": "fake.tar.gz"}))
        app.router.add_post("/webhooks/rest/webhook", self._webhook)
        app.router.add_post("/conversations/{sender}/tracker/events", self._events)
        return app

    async def _webhook(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.asked.append((body["sender"], body["message"]))
        return web.json_response([{"recipient_id": body["sender"], "text": "rasa: " + body["message"]}])

    async def _events(self, request: web.Request) -> web.Response:
        self.tracker_events.append((request.match_info["sender"], await request.json()))
        return web.json_response({})


def staff(store: Store, name: str = "lan", role: str = "counsellor") -> SessionUser:
    (counsellor_id,) = add_counsellors(store, name)
    return SessionUser(counsellor_id, name, f"Cô {name.title()}", role, "csrf")


def desk_for(client: TestClient) -> Desk:
    app = client.app
    pipeline = app[PIPELINE]
    return Desk(app[STORE], pipeline.handover, pipeline.rasa, app[TEXTS], app[EVENTS].publish, 2000)


def notices(client: TestClient, contact_id: int) -> list[str]:
    """What the gateway itself told the child (handover notices), in order."""
    return [m.text for m in client.app[STORE].transcript(contact_id) if m.sender == "system"]


def said(client: TestClient, name: str, **values: str) -> list[str]:
    return [m.text for m in client.app[TEXTS].render(name, **values)]


@pytest.fixture
async def fake_rasa() -> AsyncIterator[FakeRasa]:
    async with FakeRasa() as server:
        yield server


async def test_rasa_is_never_asked_while_a_person_has_the_conversation(
    settings: Settings, fake_rasa: FakeRasa
) -> None:
    async with gateway(dataclasses.replace(settings, rasa_url=fake_rasa.url)) as client:
        child, desk = new_user(), desk_for(client)
        lan = staff(client.app[STORE])
        assert [r["text"] for r in await chat(client, child, "chào")] == ["rasa: chào"]
        contact = client.app[STORE].find_contact("webchat", child)
        sender = str(contact.id)

        on_duty = said(client, "utter_safety_high") + said(client, "utter_handover_calling")
        assert [r["text"] for r in await chat(client, child, DISTRESS)] == on_duty
        case = await desk.take_next(lan)
        assert case is not None and client.app[STORE].contact_by_id(contact.id).state == "human"
        stopped = {"event": "active_loop", "name": None}
        assert [(s, events[0]) for s, events in fake_rasa.tracker_events][-1] == (sender, stopped)
        assert notices(client, contact.id) == said(client, "utter_handover_joined", counsellor_name="Cô Lan")
        assert "Cô Lan" in notices(client, contact.id)[0]

        for text in ("cô ơi", "em sợ lắm", "chào", "/request_human"):  # risky, ordinary, even a button payload
            assert await chat(client, child, text) == []
        await desk.reply(case.id, lan, "Cô đây, em cứ kể nhé.")
        assert fake_rasa.asked == [(sender, "chào")]  # only the very first message, before the case

        events_before = len(fake_rasa.tracker_events)
        await desk.resolve(case.id, lan)
        assert len(fake_rasa.tracker_events) == events_before + 1  # Rasa told: no form to resume
        assert client.app[STORE].contact_by_id(contact.id).state == "bot"
        assert notices(client, contact.id)[-len(said(client, "utter_handover_left")):] == said(
            client, "utter_handover_left")
        assert [r["text"] for r in await chat(client, child, "cảm ơn ạ")] == ["rasa: cảm ơn ạ"]
        assert fake_rasa.asked[-1] == (sender, "cảm ơn ạ")  # the next message: Rasa again, read afresh


async def test_message_left_for_rasa_is_not_sent_once_a_person_took_over(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        store, pipeline = client.app[STORE], client.app[PIPELINE]
        child = new_user()
        await chat(client, child, "bắt nạt trên mạng là gì")  # Rasa down: safe reply, message pending
        contact = store.find_contact("webchat", child)
        (pending,) = [i for i in store.unprocessed_inbound() if store.message(i).contact_id == contact.id]
        case = pipeline.handover.open_escalation(contact.id, "none", "request_human").escalation
        pipeline.handover.claim(case.id, staff(store).counsellor_id)
        before = len(store.transcript(contact.id))
        assert await pipeline.process(pending) == []
        assert store.message(pending).status == "processed"  # done: the counsellor reads it, Rasa never will
        assert len(store.transcript(contact.id)) == before


async def test_out_of_hours_the_child_is_told_at_once(settings: Settings) -> None:
    closed = dataclasses.replace(dead_rasa(settings), opening_hours="00:00-00:00")
    async with gateway(closed) as client:
        child = new_user()
        replies = [r["text"] for r in await chat(client, child, DISTRESS)]
        notice = [m.text for m in client.app[PIPELINE].bridge.notices.status()]
        assert replies == said(client, "utter_safety_high") + notice
        assert "0:00–0:00" in notice[0] and "sáng mai lúc 0:00" in notice[0]  # the hours, and when it is read
        # Nobody is on duty, so the assistant carries the child: the safety check goes on, turn by turn.
        assert texts_of(await chat(client, child, "vâng")) == said(client, "utter_check_thinking_yes")
        assert texts_of(await chat(client, child, "chưa ạ")) == said(client, "utter_check_plan_no")
        assert texts_of(await chat(client, child, "e an toàn")) == said(client, "utter_check_safe")
        assert await chat(client, child, "dạ")  # and after the check, still an answer (Rasa down: the fallback)


def texts_of(replies: list[dict]) -> list[str]:
    return [r["text"] for r in replies]


async def test_request_human_opens_a_case_once(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from rasa_sdk import Tracker
    from rasa_sdk.executor import CollectingDispatcher

    from actions.handover import ActionRequestHuman
    from actions.services import services

    monkeypatch.setenv("ASSISTANT_CONFIG", str(tmp_path / "none.yml"))
    monkeypatch.setenv("ASSISTANT_DATABASE_URL", settings.database_url)
    services.cache_clear()
    store = services().store
    contact = store.contact("webchat", new_user())
    tracker = Tracker(str(contact.id), {}, {"text": "/request_human", "metadata": {"risk": "none"}}, [], False,
                      None, {}, "action_listen")
    for expected in ("utter_request_human", "utter_handover_already_waiting"):  # asking twice: no second case
        dispatcher = CollectingDispatcher()
        await ActionRequestHuman().run(dispatcher, tracker, {})
        assert [m["response"] for m in dispatcher.messages] == [expected]
        assert store.contact_by_id(contact.id).state == "waiting_human"
    assert len(Handover(store, settings).history_for(contact.id)) == 1
    store.close()
    services.cache_clear()


@pytest.mark.parametrize(("hours", "on_call", "signed_in", "expected"), [
    ("00:00-00:00", True, False, "utter_handover_offline"),  # out of hours, whatever the rota
    ("00:00-23:59", False, False, "utter_handover_nobody_online"),
    ("00:00-23:59", False, True, "utter_handover_calling"),  # a console is open: a person can answer
    ("00:00-23:59", True, False, "utter_handover_calling"),  # an on-call rota covers the hours
])
async def test_the_notice_after_a_disclosure_is_what_is_true_now(
    settings: Settings, hours: str, on_call: bool, signed_in: bool, expected: str
) -> None:
    configured = dataclasses.replace(dead_rasa(settings), opening_hours=hours, on_call_during_hours=on_call)
    async with gateway(configured) as client:
        if signed_in:
            Sessions(client.app[STORE]).start(staff(client.app[STORE]).counsellor_id)
        notices = client.app[PIPELINE].bridge.notices
        replies = texts_of(await chat(client, new_user(), DISTRESS))
        assert replies == said(client, "utter_safety_high") + [m.text for m in notices.render(expected)]
        calling, offline = said(client, "utter_handover_calling")[0], notices.render("utter_handover_offline")[0].text
        assert not (calling in replies and offline in replies)  # never "coming now" beside "nobody is here"


def test_opening_hours_and_next_opening_are_named(settings: Settings, sqlite_store: Store) -> None:
    from bot.bridge.notices import HandoverNotices
    from bot.texts import Texts as DomainTexts

    office = dataclasses.replace(settings, opening_hours="07:30-17:00", opening_days="1-5")
    notices = HandoverNotices(DomainTexts.from_domain(settings.domain_file), Handover(sqlite_store, office))
    assert notices.hours() == "7:30–17:00, thứ Hai đến thứ Sáu"
    vn = timezone(timedelta(hours=7))
    friday_night, saturday = datetime(2026, 12, 4, 2, 10, tzinfo=vn), datetime(2026, 12, 5, 10, 0, tzinfo=vn)
    assert notices.next_open(friday_night) == "hôm nay lúc 7:30"  # 02:10 on a Friday: opens this morning
    assert notices.next_open(datetime(2026, 12, 3, 18, 0, tzinfo=vn)) == "sáng mai lúc 7:30"  # Thursday evening
    assert notices.next_open(saturday) == "thứ Hai lúc 7:30"
    text = notices.render("utter_handover_offline", saturday)[0].text
    assert "7:30–17:00, thứ Hai đến thứ Sáu" in text and "thứ Hai lúc 7:30" in text and "{" not in text


async def test_unclaimed_urgent_case_is_announced_to_the_counsellors_group(settings: Settings) -> None:
    from tests.fakes.gateway import on_free_port, served_gateway
    from tests.fakes.telegram_api import FakeTelegram

    group = -1001234567890
    store = Store.open(settings.database_url)
    waiting = store.contact("webchat", new_user())
    case = Handover(store, settings).open_escalation(waiting.id, "imminent", "safety").escalation
    backdate(store, case.id, 6)
    async with FakeTelegram() as telegram:
        configured = on_free_port(dataclasses.replace(
            dead_rasa(settings), telegram_bot_token=telegram.token, telegram_api_base_url=telegram.url,
            telegram_mode="polling", telegram_counsellor_chat_id=str(group)))
        async with served_gateway(configured, store) as client:  # the gateway re-checks as it starts
            await telegram.wait_sent(group, 1)
            (alert,) = telegram.texts_to(group)
            assert alert == said(client, "utter_counsellor_alert_imminent", case_id=str(case.id), minutes="5")[0]
            reminder = [m.text for m in store.transcript(waiting.id) if m.direction == "out"]
            assert reminder == said(client, "utter_handover_reminder")
    store.close()


# -- with the real Rasa ---------------------------------------------------------------------------------------
async def test_after_hand_back_rasa_answers_normally(settings: Settings, rasa_server: RasaServer) -> None:
    settings = dataclasses.replace(settings, rasa_url=rasa_server.url, database_url=rasa_server.database_url)
    async with gateway(settings) as client:
        child, desk, store = new_user(), desk_for(client), client.app[STORE]
        lan = staff(store, "lan" + new_user()[:8])
        bullying = await chat(client, child, "mik bi ban trong lop chui tren group zalo, phai lam sao")
        assert any("chụp màn hình" in r["text"].lower() for r in bullying)
        await chat(client, child, DISTRESS)
        contact = store.find_contact("webchat", child)
        case = pipeline_case(client, contact.id)
        await desk.claim(case.id, lan)
        assert await chat(client, child, "em đỡ hơn rồi ạ") == []  # the counsellor answers, not Rasa
        await desk.resolve(case.id, lan)
        assert notices(client, contact.id)[-1] == said(client, "utter_handover_left")[-1]
        greeting = await chat(client, child, "chào bạn")
        assert greeting and greeting[-1]["buttons"] and greeting[-1]["from"] == "bot", greeting  # Rasa's greeting
        hotline = await chat(client, child, "so tong dai tre em la bn")
        assert any("111" in r["text"] for r in hotline)
        assert store.contact_by_id(contact.id).state == "bot"


def pipeline_case(client: TestClient, contact_id: int) -> Escalation:
    case = client.app[PIPELINE].handover.open_case_for(contact_id)
    assert case is not None
    return case


class HangingTrackerRasa(FakeRasa):
    """Rasa whose tracker API does not answer until the test lets it: a safety reply must not wait for it."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def _events(self, request: web.Request) -> web.Response:
        await self.release.wait()
        return await super()._events(request)


async def test_a_safety_reply_does_not_wait_for_a_hanging_rasa(settings: Settings) -> None:
    async with HangingTrackerRasa() as rasa, gateway(dataclasses.replace(settings, rasa_url=rasa.url)) as client:
        child, store = new_user(), client.app[STORE]
        posted = await client.post("/webchat/api/messages", json={"user": child, "text": "e muốn chết"})
        assert posted.status == 202
        contact = None
        for _ in range(200):  # the reply is in the outbox while Rasa still holds the interrupt
            contact = store.find_contact("webchat", child)
            if contact is not None and any(m.sender != "child" and "111" in m.text
                                           for m in store.transcript(contact.id)):
                break
            await asyncio.sleep(0.01)
        else:
            raise AssertionError("no safety reply while Rasa's tracker API hung")
        assert not rasa.tracker_events and not rasa.release.is_set()
        rasa.release.set()  # Rasa answers now: the interrupt still reaches it, and drained() waits for it
        await asyncio.wait_for(client.app[PIPELINE].drained(), 10)
        assert [sender for sender, _ in rasa.tracker_events] == [str(contact.id)]


async def test_rasa_updates_run_in_order_and_the_next_rasa_call_waits_for_them(settings: Settings) -> None:
    async with gateway(settings) as client:
        pipeline, seen = client.app[PIPELINE], []

        async def update(name: str, delay: float) -> None:
            await asyncio.sleep(delay)
            seen.append(name)

        pipeline._update_rasa_later(1, update("interrupt", 0.05))
        pipeline._update_rasa_later(1, update("slots", 0.0))
        await pipeline._rasa_caught_up(1)
        assert seen == ["interrupt", "slots"]
