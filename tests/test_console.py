"""The counsellor console over HTTP, against the real gateway and a real SQLite database (Rasa is not needed:
its address is dead, so the child's side is answered by the gateway itself).

Sign-in, sessions, CSRF, roles, the audit log, the live event stream, and a whole case: a child in danger on
the web chat, a counsellor taking the case, replying, and handing the child back to the assistant.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from bot.config import PROJECT_ROOT, Settings
from bot.console import accounts
from bot.gateway import PIPELINE, STORE, TEXTS
from bot.store import AuditEntry, Counsellor, Escalation, Store
from tests.helpers import chat, gateway, new_user
from tests.test_webchat import dead_rasa

PASSWORD = "mật-khẩu-đủ-dài-1"
DISTRESS = "ko muon song nua"


class ConsoleUser:
    """One person's browser against the console: its own cookie jar, its CSRF token."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def login(self, username: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        form = await self.http.get(self.url("/console/login"))
        token = re.search(r'name="csrf" value="([^"]+)"', await form.text()).group(1)
        response = await self.http.post(self.url("/console/login"), allow_redirects=False,
                                        data={"csrf": token, "username": username, "password": password})
        if response.status == 303:
            home = await self.http.get(self.url("/console/"))
            self.csrf = re.search(r'name="csrf-token" content="([^"]+)"', await home.text()).group(1)
        return response

    async def api(self, method: str, path: str, body: dict | None = None, csrf: str | None = None) -> tuple[int, Any]:
        headers = {} if method == "GET" else {"X-CSRF-Token": self.csrf if csrf is None else csrf}
        async with self.http.request(method, self.url("/console/api" + path), json=body, headers=headers,
                                     allow_redirects=False) as response:
            return response.status, await response.json(content_type=None)

    async def close(self) -> None:
        await self.http.close()


@asynccontextmanager
async def console_users(client: TestClient, *usernames: str) -> AsyncIterator[list[ConsoleUser]]:
    users = [ConsoleUser(client) for _ in usernames]
    try:
        for user, username in zip(users, usernames, strict=True):
            assert (await user.login(username)).status == 303
        yield users
    finally:
        for user in users:
            await user.close()


def add_staff(store: Store) -> dict[str, Counsellor]:
    return {
        "lan": accounts.create(store, "lan", "Cô Lan", "counsellor", PASSWORD),
        "hoa": accounts.create(store, "hoa", "Chị Hoa", "counsellor", PASSWORD),
        "minh": accounts.create(store, "minh", "Anh Minh", "supervisor", PASSWORD),
    }


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[TestClient]:
    async with gateway(dead_rasa(settings)) as gateway_client:
        add_staff(gateway_client.app[STORE])
        yield gateway_client


async def child_messages(client: TestClient, user: str, after: int = 0) -> list[dict]:
    response = await client.get("/webchat/api/messages", params={"user": user, "after": str(after)})
    return (await response.json())["messages"]


def texts(client: TestClient, name: str, **values: str) -> list[str]:
    return [m.text for m in client.app[TEXTS].render(name, **values)]


async def read_events(response: aiohttp.ClientResponse, until: str, timeout_s: float = 10.0) -> list[tuple]:
    """Server-sent events from an open stream, up to and including the first of kind `until`."""
    events: list[tuple[str, dict]] = []
    kind = None

    async def read() -> None:
        nonlocal kind
        while True:
            line = (await response.content.readline()).decode().rstrip("\n")
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: ") and kind:
                events.append((kind, json.loads(line.removeprefix("data: "))))
                if kind == until:
                    return

    await asyncio.wait_for(read(), timeout_s)
    return events


# -- sign-in --------------------------------------------------------------------------------------------
async def test_wrong_password_unknown_user_and_disabled_account_cannot_sign_in(client: TestClient) -> None:
    user = ConsoleUser(client)
    try:
        for username, password in (("lan", "sai-mat-khau-roi"), ("khong-co-ai", PASSWORD)):
            response = await user.login(username, password)
            assert response.status == 401
            assert 'data-error="invalid"' in await response.text()
            assert "console_session" not in {c.key for c in user.http.cookie_jar}
        accounts.set_active(client.app[STORE], "hoa", False)
        assert (await user.login("hoa")).status == 401
        assert (await user.login("lan")).status == 303  # the right password still works
    finally:
        await user.close()


async def test_repeated_failures_are_throttled(client: TestClient) -> None:
    user = ConsoleUser(client)
    try:
        for _ in range(5):
            assert (await user.login("lan", "sai-mat-khau-roi")).status == 401
        response = await user.login("lan")  # even the right password, for a while
        assert response.status == 429 and 'data-error="throttled"' in await response.text()
    finally:
        await user.close()


async def test_session_cookie_is_httponly_strict_and_server_side(client: TestClient) -> None:
    user = ConsoleUser(client)
    try:
        response = await user.login("lan")
        cookie = response.cookies["console_session"]
        assert cookie["httponly"] and cookie["samesite"] == "Strict" and cookie["path"] == "/console"
        assert not cookie["secure"]  # plain http here; behind a TLS proxy it is Secure (next test)
        status, me = await user.api("GET", "/me")
        assert status == 200 and me["name"] == "Cô Lan" and me["role"] == "counsellor"
        # Disabling the account ends its sessions at once.
        accounts.set_active(client.app[STORE], "lan", False)
        status, _ = await user.api("GET", "/me")
        assert status == 401
    finally:
        await user.close()


async def test_cookies_are_secure_behind_a_tls_proxy(client: TestClient) -> None:
    response = await client.get("/console/login", headers={"X-Forwarded-Proto": "https"})
    assert response.cookies["console_login_csrf"]["secure"]


async def test_pages_and_api_need_a_session(client: TestClient) -> None:
    response = await client.get("/console/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/login"
    response = await client.get("/console/api/queue")
    assert response.status == 401
    response = await client.get("/console", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"] == "/console/"
    response = await client.get("/console/login")
    assert response.status == 200 and "Đăng nhập" in await response.text()
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]


# -- CSRF -----------------------------------------------------------------------------------------------
async def test_every_post_needs_the_csrf_token(client: TestClient) -> None:
    async with console_users(client, "lan") as (lan,):
        assert (await lan.api("POST", "/take-next", csrf=""))[0] == 403
        assert (await lan.api("POST", "/take-next", csrf="a-token-from-elsewhere"))[0] == 403
        assert (await lan.api("POST", "/take-next")) == (200, {"ok": True, "case": None})
        # The logout form carries it as a field; without it the session survives.
        response = await lan.http.post(lan.url("/console/logout"), data={}, allow_redirects=False)
        assert response.status == 403
        assert (await lan.api("GET", "/me"))[0] == 200
        response = await lan.http.post(lan.url("/console/logout"), data={"csrf": lan.csrf}, allow_redirects=False)
        assert response.status == 303
        assert (await lan.api("GET", "/me"))[0] == 401


async def test_login_form_needs_its_own_csrf_cookie(client: TestClient) -> None:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        # A cross-site form post has no console_login_csrf cookie to match.
        response = await http.post(str(client.make_url("/console/login")), allow_redirects=False,
                                   data={"csrf": "guessed", "username": "lan", "password": PASSWORD})
        assert response.status == 403
        assert "console_session" not in {c.key for c in http.cookie_jar}


# -- roles and audit --------------------------------------------------------------------------------------
async def test_statistics_and_audit_log_are_for_supervisors_only(client: TestClient) -> None:
    async with console_users(client, "lan", "minh") as (lan, minh):
        assert (await lan.api("GET", "/stats"))[0] == 403
        assert (await lan.api("GET", "/audit"))[0] == 403
        response = await lan.http.get(lan.url("/console/supervisor"))
        assert response.status == 403
        status, stats = await minh.api("GET", "/stats")
        assert status == 200 and stats["total"] == 0
        status, audit = await minh.api("GET", "/audit")
        assert status == 200 and {("counsellor:lan", "login"), ("counsellor:minh", "login")} <= {
            (a["actor"], a["action"]) for a in audit["entries"]}
        response = await minh.http.get(minh.url("/console/supervisor"))
        assert response.status == 200 and "Nhật ký truy cập" in await response.text()


async def test_every_transcript_opening_is_audited(client: TestClient) -> None:
    child = new_user()
    await chat(client, child, DISTRESS)
    contact = client.app[STORE].find_contact("webchat", child)
    (case, _), = client.app[PIPELINE].handover.cases()

    def reads() -> list[str]:
        with client.app[STORE].session() as s:
            return list(s.scalars(select(AuditEntry.actor).where(
                AuditEntry.action == "read_transcript", AuditEntry.target == f"contact:{contact.id}")))

    async with console_users(client, "lan", "minh") as (lan, minh):
        status, file = await lan.api("GET", f"/cases/{case.id}")
        assert status == 200 and [m["text"] for m in file["messages"]][0] == DISTRESS
        assert reads() == ["counsellor:lan"]
        await lan.api("GET", f"/cases/{case.id}/messages?after=0")  # from the start: a reading
        assert reads() == ["counsellor:lan"] * 2
        last = file["messages"][-1]["id"]
        status, _ = await lan.api("GET", f"/cases/{case.id}/messages?after={last}")  # live updates: not again
        assert status == 200 and reads() == ["counsellor:lan"] * 2
        await minh.api("GET", f"/cases/{case.id}")
        assert reads() == ["counsellor:lan"] * 2 + ["counsellor:minh"]


async def test_case_file_shows_the_linked_report_and_the_contacts_consent(client: TestClient) -> None:
    from sqlalchemy import update

    from bot.store import Contact, Report

    store = client.app[STORE]
    contact = store.contact("zalo_oa", "u-report")
    with store.session() as s:
        s.execute(update(Contact).where(Contact.id == contact.id)
                  .values(age_band="11-13", consent_contact=True, consent_share=False))
        report = Report(code="BC-7Q2K", contact_id=contact.id, reporter_role="child", category="sextortion",
                        platform="Facebook", ongoing="yes", child_safe_now="no", age_band="11-13",
                        description="Bị đòi gửi thêm ảnh", consent_contact=True, consent_share=False)
        s.add(report)
    case = client.app[PIPELINE].handover.open_escalation(contact.id, "high", "report", ["sextortion"],
                                                         report_id=report.id).escalation
    async with console_users(client, "lan") as (lan,):
        status, file = await lan.api("GET", f"/cases/{case.id}")
    assert status == 200
    assert file["contact"] == {**file["contact"], "channel": "zalo_oa", "age_band": "11-13",
                               "consent_contact": True, "consent_share": False}
    assert {k: file["report"][k] for k in ("code", "category", "platform", "child_safe_now", "consent_share")} == {
        "code": "BC-7Q2K", "category": "sextortion", "platform": "Facebook", "child_safe_now": "no",
        "consent_share": False}
    assert file["case"]["has_report"] and file["case"]["signals"] == ["sextortion"]


# -- a whole case -----------------------------------------------------------------------------------------
async def test_case_from_alarm_to_hand_back(client: TestClient) -> None:
    store = client.app[STORE]
    async with console_users(client, "lan", "hoa", "minh") as (lan, hoa, minh):
        stream = await lan.http.get(lan.url("/console/api/events"))
        assert stream.headers["Content-Type"] == "text/event-stream"
        await read_events(stream, "hello")

        child = new_user()
        replies = await chat(client, child, DISTRESS)
        on_duty = texts(client, "utter_handover_calling")
        assert [r["text"] for r in replies] == texts(client, "utter_safety_high") + on_duty
        kinds = [kind for kind, _ in await read_events(stream, "escalation")]
        assert "message" in kinds  # the child's message, screened, then the case

        status, queue = await lan.api("GET", "/queue")
        (waiting,) = queue["waiting"]
        assert (waiting["risk"], waiting["channel"], waiting["reason"]) == ("high", "webchat", "safety")
        assert "suicidal_ideation" in waiting["signals"]

        # While waiting, the assistant carries the child: "có" answers its question, the check goes on.
        waiting_replies = await chat(client, child, "có")
        assert [r["text"] for r in waiting_replies] == texts(client, "utter_check_thinking_yes")
        assert await chat(client, child, "mình chờ")  # never silence (Rasa is down here: the safe fallback)

        # Take the next case: it is this one; the child is told who joined.
        status, taken = await lan.api("POST", "/take-next")
        assert (status, taken["case"]) == (200, waiting["id"])
        assert (await hoa.api("POST", f"/cases/{waiting['id']}/claim"))[0] == 409  # too late
        joined = [m["text"] for m in await child_messages(client, child) if m["from"] == "system"]
        assert joined == texts(client, "utter_handover_joined", counsellor_name="Cô Lan")
        assert store.contact_by_id(waiting["contact_id"]).state == "human"

        # A colleague can neither read nor answer a case someone else has; a supervisor can read it.
        assert (await hoa.api("GET", f"/cases/{waiting['id']}"))[0] == 403
        assert (await hoa.api("POST", f"/cases/{waiting['id']}/reply", {"text": "chào em"}))[0] == 403
        assert (await minh.api("GET", f"/cases/{waiting['id']}"))[0] == 200
        assert (await minh.api("POST", f"/cases/{waiting['id']}/reply", {"text": "chào em"}))[0] == 403

        greeting = {"text": "Chào em, cô là Lan. Em kể cô nghe nhé."}
        status, _ = await lan.api("POST", f"/cases/{waiting['id']}/reply", greeting)
        assert status == 201
        assert (await lan.api("POST", f"/cases/{waiting['id']}/reply", {"text": "   "}))[0] == 400
        seen = await child_messages(client, child)
        assert seen[-1]["from"] == "counsellor" and seen[-1]["text"].startswith("Chào em, cô là Lan")
        case = client.app[PIPELINE].handover.escalation(waiting["id"])
        assert case.first_reply_at is not None and case.claimed_by == (await lan.api("GET", "/me"))[1]["id"]

        # The child answers: stored, screened and shown live; the assistant stays quiet.
        assert await chat(client, child, "em bị bạn bè tẩy chay, em thấy rất buồn") == []
        status, update = await lan.api("GET", f"/cases/{waiting['id']}/messages?after={seen[-1]['id']}")
        (answer,) = update["messages"]
        assert answer["sender"] == "child" and answer["risk"] == "high" and answer["signals"]  # flagged

        status, note = await lan.api("POST", f"/cases/{waiting['id']}/notes", {"text": "Bị tẩy chay ở lớp."})
        assert status == 201
        assert (await hoa.api("POST", f"/cases/{waiting['id']}/notes", {"text": "x"}))[0] == 403

        # Hand back: the child is told, the contact is the assistant's again.
        assert (await hoa.api("POST", f"/cases/{waiting['id']}/resolve"))[0] == 403
        assert (await lan.api("POST", f"/cases/{waiting['id']}/resolve")) == (200, {"ok": True})
        assert (await lan.api("POST", f"/cases/{waiting['id']}/resolve"))[0] == 409
        left = [m["text"] for m in await child_messages(client, child, seen[-1]["id"]) if m["from"] == "system"]
        assert left == texts(client, "utter_handover_left")
        assert store.contact_by_id(waiting["contact_id"]).state == "bot"
        assert {kind for kind, _ in await read_events(stream, "resolved")} >= {"claimed", "reply", "resolved"}
        stream.close()

        # Her case file keeps everything, and the next case of the same child shows this one as history.
        await chat(client, child, DISTRESS)
        (new_case, _), = client.app[PIPELINE].handover.cases()
        status, file = await lan.api("GET", f"/cases/{new_case.id}")
        assert [h["id"] for h in file["history"]] == [waiting["id"]]
        assert [n["text"] for n in file["notes"]] == ["Bị tẩy chay ở lớp."]
        assert any(m["sender"] == "counsellor" and m["counsellor"] == "Cô Lan" for m in file["messages"])
        flagged = [m for m in file["messages"] if m["text"] == DISTRESS]
        assert flagged[0]["risk"] == "high" and flagged[0]["signals"]

        status, stats = await minh.api("GET", "/stats")
        assert stats["total"] == 2 and stats["by_risk"]["high"] == 2
        assert stats["median_to_claim_s"] is not None and stats["median_to_first_reply_s"] is not None
        with store.session() as s:
            actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.actor == "counsellor:lan")))
        assert {"login", "claim_case", "resolve_case"} <= actions


async def test_claim_from_the_queue_and_refusals(client: TestClient) -> None:
    child = new_user()
    await chat(client, child, DISTRESS)
    (case, _), = client.app[PIPELINE].handover.cases()
    async with console_users(client, "lan", "hoa") as (lan, hoa):
        assert (await lan.api("POST", f"/cases/{case.id}/resolve"))[0] == 409  # nobody has it yet
        assert (await lan.api("POST", "/cases/999999/claim"))[0] == 404
        results = await asyncio.gather(lan.api("POST", f"/cases/{case.id}/claim"),
                                       hoa.api("POST", f"/cases/{case.id}/claim"))
        assert sorted(status for status, _ in results) == [200, 409]
        page = await lan.http.get(lan.url(f"/console/cases/{case.id}"))
        other = await hoa.http.get(hoa.url(f"/console/cases/{case.id}"))
        winner_page = page if results[0][0] == 200 else other
        loser_page = other if results[0][0] == 200 else page
        assert winner_page.status == 200 and f'data-case="{case.id}"' in await winner_page.text()
        assert loser_page.status == 403


async def test_case_opened_by_another_process_reaches_the_stream(client: TestClient, settings: Settings) -> None:
    """The action server writes request_human cases straight to the database; without Redis the gateway's
    periodic re-check turns them into a live "queue" event."""
    from bot.handover import Handover

    async with console_users(client, "lan") as (lan,):
        stream = await lan.http.get(lan.url("/console/api/events"))
        await read_events(stream, "hello")
        action_server = Store.open(settings.database_url)
        try:
            contact = action_server.contact("telegram", "42")
            Handover(action_server, settings).open_escalation(contact.id, "none", "request_human")
            (event,) = [e for e in await read_events(stream, "queue", timeout_s=6) if e[0] == "queue"]
            assert event == ("queue", {"open_cases": 1})
        finally:
            action_server.close()
            stream.close()
        status, queue = await lan.api("GET", "/queue")
        assert [(c["channel"], c["reason"]) for c in queue["waiting"]] == [("telegram", "request_human")]


async def test_renotified_case_reaches_the_stream_and_the_child(client: TestClient) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from bot.console.background import Renotifier
    from bot.gateway import EVENTS
    from bot.store import utcnow

    store, hub = client.app[STORE], client.app[EVENTS]
    child = new_user()
    await chat(client, child, DISTRESS)
    (case, _), = client.app[PIPELINE].handover.cases()
    with store.session() as s:
        s.execute(update(Escalation).where(Escalation.id == case.id).values(opened_at=utcnow() - timedelta(minutes=6)))
    queue = hub.subscribe()
    renotifier = Renotifier(client.app[PIPELINE].handover, store, client.app[TEXTS], hub.publish, minutes=5)
    assert await renotifier.run_once() == [case.id]
    assert queue.get_nowait() == ("renotify", {"escalation_id": case.id, "risk": "high"})
    reminder = [m["text"] for m in await child_messages(client, child) if m["from"] == "system"]
    assert reminder == texts(client, "utter_handover_reminder") and "111" in reminder[-1]
    assert await renotifier.run_once() == []  # not again before another five minutes


# -- accounts CLI ------------------------------------------------------------------------------------------
def test_accounts_command_line(settings: Settings) -> None:
    env = {**os.environ, "ASSISTANT_DATABASE_URL": settings.database_url,
           "ASSISTANT_CONFIG": str(PROJECT_ROOT / "no-such-settings.yml")}

    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "bot.console.accounts", *args], input=stdin, env=env,
                              cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=60)

    created = run("create", "--username", "thu", "--name", "Cô Thu", "--role", "supervisor", stdin=PASSWORD + "\n")
    assert created.returncode == 0, created.stderr
    assert run("create", "--username", "thu", "--name", "X", stdin=PASSWORD + "\n").returncode == 1  # taken
    short = run("create", "--username", "an", "--name", "An", stdin="ngan\n")
    assert short.returncode == 1 and "at least" in short.stderr
    assert run("disable", "--username", "thu").returncode == 0
    listed = run("list").stdout.splitlines()
    assert listed == ["thu\tsupervisor\tdisabled\tCô Thu"]
    store = Store.open(settings.database_url)
    try:
        assert accounts.set_active(store, "thu", True).active is True
        from bot.console.auth import authenticate

        assert authenticate(store, "thu", PASSWORD).display_name == "Cô Thu"
        assert authenticate(store, "thu", "sai-mat-khau-roi") is None
    finally:
        store.close()
