"""The bridging mode, proven as a child would meet it: scripted multi-turn conversations (tests/bridging/*.yml)
played through the real gateway pipeline and the real Rasa, out of hours, in hours with nobody signed in,
and in hours with a counsellor at the console. Every child message gets at least one reply unless a
counsellor owns the conversation; the notices never promise a person who is not there.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import yaml
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.config import PROJECT_ROOT, Settings
from bot.console.auth import Sessions, SessionUser
from bot.gateway import PIPELINE, STORE
from bot.handover import Duty
from bot.store import Contact, Escalation, as_naive_utc
from tests.conftest import RasaServer
from tests.helpers import chat, gateway, new_user
from tests.test_handover import desk_for, staff

SCRIPTS = sorted((PROJECT_ROOT / "tests" / "bridging").glob("*.yml"))
# when -> (opening hours, a console signed in, the duty that must follow)
WHEN = {
    "night": ("00:00-00:00", False, Duty.CLOSED),
    "day_nobody": ("00:00-23:59", False, Duty.NOBODY_ONLINE),
    "day_online": ("00:00-23:59", True, Duty.ON_DUTY),
}


@dataclass(frozen=True)
class Script:
    source: str
    name: str
    when: str
    turns: list[dict[str, Any]]


def load_scripts(paths: list[Path] = SCRIPTS) -> list[Script]:
    scripts = []
    for path in paths:
        for conversation in yaml.safe_load(path.read_text(encoding="utf-8"))["conversations"]:
            scripts.append(Script(path.name, conversation["name"], conversation.get("when", "night"),
                                  conversation["turns"]))
    return scripts


ALL_SCRIPTS = load_scripts()


def test_scripts_are_well_formed() -> None:
    assert len(ALL_SCRIPTS) >= 25 and {s.source for s in ALL_SCRIPTS} >= {
        "conversations_quoted.yml", "conversations_independent.yml"}
    known = {"responses", "contains", "contains_any", "not_contains", "silent", "risk", "state"}
    for script in ALL_SCRIPTS:
        assert script.when in WHEN, script.name
        for turn in script.turns:
            assert set(turn) <= {"child", "counsellor", "expect"} and ("child" in turn) != ("counsellor" in turn)
            assert set(turn.get("expect") or {}) <= known, (script.name, turn)


@pytest.fixture
async def gateways(settings: Settings, rasa_server: RasaServer) -> AsyncIterator[dict[str, TestClient]]:
    """One gateway per time of day, all on the real Rasa and on the database its action server writes."""
    clients: dict[str, TestClient] = {}
    contexts = []
    for when, (hours, _signed_in, _duty) in WHEN.items():
        configured = dataclasses.replace(
            settings, rasa_url=rasa_server.url, database_url=rasa_server.database_url, opening_hours=hours,
            opening_days="1-7", on_call_during_hours=False,
        )
        context = gateway(configured)
        clients[when] = await context.__aenter__()
        contexts.append(context)
    yield clients
    for context in reversed(contexts):
        await context.__aexit__(None, None, None)


class Player:
    """Plays one script: the child's turns over the web chat API, the counsellor's through the console desk."""

    def __init__(self, client: TestClient, script: Script) -> None:
        self.client = client
        self.script = script
        self.child = new_user()
        self.store = client.app[STORE]
        self.pipeline = client.app[PIPELINE]
        self.counsellor: SessionUser | None = None
        self.transcript: list[str] = []

    def notice_texts(self, name: str) -> list[str]:
        return [m.text for m in self.pipeline.bridge.notices.render(name)]

    async def play(self) -> None:
        hours, signed_in, duty = WHEN[self.script.when]
        if signed_in:
            self.counsellor = staff(self.store, "c" + new_user()[:10])
            Sessions(self.store).start(self.counsellor.counsellor_id)
        assert self.pipeline.handover.duty() is duty
        for number, turn in enumerate(self.script.turns, 1):
            where = f"{self.script.source} / {self.script.name} / turn {number}"
            if "counsellor" in turn:
                await self.counsellor_turn(str(turn["counsellor"]), where)
                continue
            replies = [r["text"] for r in await chat(self.client, self.child, turn["child"])]
            self.transcript += [f"child: {turn['child']}"] + [f"  bot: {r}" for r in replies]
            self.check(turn["child"], replies, turn.get("expect") or {}, duty, where)
        if self.counsellor is not None:  # signed out again: the next script's duty is its own
            Sessions(self.store).end_all(self.counsellor.counsellor_id)

    async def counsellor_turn(self, action: str, where: str) -> None:
        desk = desk_for(self.client)
        assert self.counsellor is not None, f"{where}: a counsellor turn needs when: day_online"
        case = self.pipeline.handover.open_case_for(self.contact_id)
        assert case is not None, f"{where}: no open case to {action}"
        if action == "claim":
            await desk.claim(case.id, self.counsellor)
        elif action == "resolve":
            await desk.resolve(case.id, self.counsellor)
        else:
            await desk.reply(case.id, self.counsellor, action)

    @property
    def contact_id(self) -> int:
        contact = self.store.find_contact("webchat", self.child)
        assert contact is not None
        return contact.id

    def check(self, said: str, replies: list[str], expect: dict[str, Any], duty: Duty, where: str) -> None:
        context = f"{where}: {said!r} -> {replies}\n" + "\n".join(self.transcript)
        if expect.get("silent"):
            assert replies == [], context
        else:
            assert replies, "no reply: " + context
        joined = "\n".join(replies)
        for name in expect.get("responses", ()):
            first = self.notice_texts(name)[0]
            prefix = first.split("{")[0]  # a response filled with the child's own words: its fixed start
            assert any(r == first or r.startswith(prefix) for r in replies), f"{name} missing: {context}"
        for text in expect.get("contains", ()):
            assert text.lower() in joined.lower(), f"{text!r} missing: {context}"
        if "contains_any" in expect:
            assert any(t.lower() in joined.lower() for t in expect["contains_any"]), context
        for text in expect.get("not_contains", ()):
            assert text.lower() not in joined.lower(), context
        if duty is not Duty.ON_DUTY:  # "a counsellor will join soon" only when one can
            assert not set(self.notice_texts("utter_handover_calling")) & set(replies), context
        if "state" in expect:
            assert self.store.contact_by_id(self.contact_id).state == expect["state"], context
        if "risk" in expect:
            case = self.pipeline.handover.open_case_for(self.contact_id)
            assert case is not None and case.risk == expect["risk"], context


async def test_every_scripted_conversation_is_answered_turn_by_turn(gateways: dict[str, TestClient]) -> None:
    failures = []
    for script in ALL_SCRIPTS:
        try:
            await Player(gateways[script.when], script).play()
        except AssertionError as error:
            failures.append(str(error))
    assert not failures, f"{len(failures)} of {len(ALL_SCRIPTS)} conversations failed:\n\n" + "\n\n".join(failures)

    # Then over everything these conversations left in the database (all gateways share it): each inbound
    # message is followed by a reply before the child's next one, unless a counsellor had the case then.
    store = gateways["night"].app[STORE]
    with store.session() as s:
        contacts = list(s.scalars(select(Contact.id).where(Contact.channel == "webchat")))
        cases = list(s.scalars(select(Escalation).where(Escalation.claimed_at.is_not(None))))
    silent = []
    for contact_id in contacts:
        messages = store.transcript(contact_id)
        for index, message in enumerate(messages):
            if message.direction != "in":
                continue
            until_next = next((m for m in messages[index + 1:] if m.direction == "in"), None)
            replies = [m for m in messages[index + 1:] if m.direction == "out"
                       and (until_next is None or m.id < until_next.id)]
            if not replies and not owned_by_a_person(cases, contact_id, message.created_at):
                silent.append((contact_id, message.text))
    assert len(contacts) >= len(ALL_SCRIPTS) and not silent, silent


def owned_by_a_person(cases: list[Escalation], contact_id: int, at: datetime) -> bool:
    """Had a counsellor claimed the contact's case when the message came in (silence is right then)?"""
    at = as_naive_utc(at)
    for case in cases:
        if case.contact_id != contact_id or case.claimed_at is None:
            continue
        resolved = as_naive_utc(case.resolved_at) if case.resolved_at else None
        if as_naive_utc(case.claimed_at) <= at and (resolved is None or at <= resolved):
            return True
    return False
