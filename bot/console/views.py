"""The console's HTTP handlers: pages (static templates), the JSON API and the live event stream.

Pages are HTML files in templates/ with a few {{placeholders}}; everything on them is filled in by the
scripts in static/ from the JSON API, so the Vietnamese the counsellors read stays out of Python.
"""

from __future__ import annotations

import asyncio
import html
import json
import logging
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from bot.console import casefile
from bot.console.auth import LoginThrottle, Sessions, SessionUser, authenticate, tokens_match
from bot.console.desk import Desk, DeskError
from bot.events import EventHub
from bot.handover import Handover
from bot.store import Store
from connectors.base import json_error, read_json

log = logging.getLogger(__name__)

TEMPLATES = Path(__file__).with_name("templates")
SESSION_COOKIE = "console_session"
LOGIN_CSRF_COOKIE = "console_login_csrf"
HEARTBEAT_S = 15.0
SESSION_RECHECK_S = 30.0


@dataclass
class Console:
    """Everything the handlers need, in one place on the console's sub-application."""

    store: Store
    handover: Handover
    desk: Desk
    sessions: Sessions
    hub: EventHub
    throttle: LoginThrottle
    closing: asyncio.Event
    pages: dict[str, str]


CONSOLE = web.AppKey("console", Console)
USER = web.RequestKey("user", SessionUser)


def load_pages() -> dict[str, str]:
    return {path.stem: path.read_text(encoding="utf-8") for path in TEMPLATES.glob("*.html")}


def page(request: web.Request, name: str, status: int = 200, **values: object) -> web.Response:
    text = request.app[CONSOLE].pages[name]
    user = request.get(USER)
    if user is not None:
        values = {"csrf": user.csrf_token, "name": user.display_name, "username": user.username,
                  "role": user.role, **values}
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(str(value)))
    return web.Response(text=text, content_type="text/html", status=status)


def _user(request: web.Request) -> SessionUser:
    return request[USER]


def _case_id(request: web.Request) -> int:
    return int(request.match_info["case_id"])


def _desk_error(error: DeskError) -> web.Response:
    return json_error(error.status, error.reason)


def _redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def _cookie(response: web.StreamResponse, request: web.Request, name: str, value: str) -> None:
    # Behind a TLS-terminating proxy the gateway itself sees http; the proxy's header says https. Trusting it
    # is harmless here: a forged header can only make the cookie stricter.
    https = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    response.set_cookie(name, value, path="/console", httponly=True, samesite="Strict", secure=https)


# -- sign-in ------------------------------------------------------------------------------------------
async def login_page(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    if console.sessions.user(request.cookies.get(SESSION_COOKIE)) is not None:
        return _redirect("/console/")
    return _login_form(request, "", 200)


def _login_form(request: web.Request, error: str, status: int) -> web.Response:
    token = request.cookies.get(LOGIN_CSRF_COOKIE) or secrets.token_urlsafe(32)
    response = page(request, "login", status, csrf=token, error=error)
    _cookie(response, request, LOGIN_CSRF_COOKIE, token)
    return response


async def login(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    form = await request.post()
    username = str(form.get("username", "")).strip().lower()[:64]  # longer is never a username
    password = str(form.get("password", ""))
    # Login CSRF: the form must carry the random value this browser got as a cookie with the form.
    if not tokens_match(request.cookies.get(LOGIN_CSRF_COOKIE, ""), str(form.get("csrf", ""))):
        return _login_form(request, "expired", 403)
    address = request.remote or ""
    if console.throttle.blocked(address, username):
        return _login_form(request, "throttled", 429)
    counsellor = await asyncio.to_thread(authenticate, console.store, username, password)
    if counsellor is None:
        console.throttle.failed(address, username)
        log.warning("console: failed sign-in for %r from %s", username, address)
        return _login_form(request, "invalid", 401)
    console.throttle.succeeded(address, username)
    token = console.sessions.start(counsellor.id)  # always a new session: no fixation
    console.store.audit(f"counsellor:{counsellor.username}", "login", f"counsellor:{counsellor.id}")
    response = _redirect("/console/")
    _cookie(response, request, SESSION_COOKIE, token)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/console")
    return response


async def logout(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    console.sessions.end(request.cookies.get(SESSION_COOKIE))
    console.store.audit(_user(request).actor, "logout", f"counsellor:{_user(request).counsellor_id}")
    response = _redirect("/console/login")
    response.del_cookie(SESSION_COOKIE, path="/console")
    return response


# -- pages --------------------------------------------------------------------------------------------
async def queue_page(request: web.Request) -> web.Response:
    return page(request, "queue")


async def case_page(request: web.Request) -> web.Response:
    try:
        request.app[CONSOLE].desk.case(_case_id(request), _user(request))
    except DeskError as error:
        return page(request, "denied", error.status)
    return page(request, "case", case_id=_case_id(request))


async def supervisor_page(request: web.Request) -> web.Response:
    if not _user(request).is_supervisor:
        return page(request, "denied", 403)
    return page(request, "supervisor")


# -- JSON API -----------------------------------------------------------------------------------------
async def me(request: web.Request) -> web.Response:
    user = _user(request)
    return web.json_response({"ok": True, "id": user.counsellor_id, "name": user.display_name, "role": user.role})


async def queue(request: web.Request) -> web.Response:
    console = request.app[CONSOLE]
    return web.json_response({"ok": True, **casefile.queue_view(console.handover, console.store, _user(request))})


async def take_next(request: web.Request) -> web.Response:
    case = await request.app[CONSOLE].desk.take_next(_user(request))
    return web.json_response({"ok": True, "case": case.id if case else None})


async def claim(request: web.Request) -> web.Response:
    try:
        case = await request.app[CONSOLE].desk.claim(_case_id(request), _user(request))
    except DeskError as error:
        return _desk_error(error)
    return web.json_response({"ok": True, "case": case.id})


async def case_file(request: web.Request) -> web.Response:
    console, user = request.app[CONSOLE], _user(request)
    try:
        case = console.desk.case(_case_id(request), user)
    except DeskError as error:
        return _desk_error(error)
    # Reading a child's conversation is always on record: who, whose, when.
    console.store.audit(user.actor, "read_transcript", f"contact:{case.contact_id}")
    return web.json_response({"ok": True, **casefile.case_file(console.desk, console.store, case, user)})


async def case_messages(request: web.Request) -> web.Response:
    """New messages of an open case file (the live view); reading from the start is audited."""
    console, user = request.app[CONSOLE], _user(request)
    try:
        after = int(request.query.get("after", "0"))
        case = console.desk.case(_case_id(request), user)
    except ValueError:
        return json_error(400, "after must be a message id")
    except DeskError as error:
        return _desk_error(error)
    if after <= 0:
        console.store.audit(user.actor, "read_transcript", f"contact:{case.contact_id}")
    names = casefile.counsellor_names(console.store)
    return web.json_response({
        "ok": True,
        "case": casefile.case_summary(case, console.store.contact_by_id(case.contact_id), names, user),
        "messages": casefile.messages_view(console.store, case.contact_id, after),
    })


async def _text(request: web.Request) -> str:
    """The "text" of a JSON body (replies and notes)."""
    text = (await read_json(request)).get("text")
    if not isinstance(text, str):
        raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "text must be a string"}),
                                 content_type="application/json")
    return text


async def reply(request: web.Request) -> web.Response:
    text = await _text(request)
    try:
        message_id = await request.app[CONSOLE].desk.reply(_case_id(request), _user(request), text)
    except DeskError as error:
        return _desk_error(error)
    return web.json_response({"ok": True, "id": message_id}, status=201)


async def add_note(request: web.Request) -> web.Response:
    text = await _text(request)
    try:
        note = request.app[CONSOLE].desk.add_note(_case_id(request), _user(request), text)
    except DeskError as error:
        return _desk_error(error)
    return web.json_response({"ok": True, "id": note.id}, status=201)


async def resolve(request: web.Request) -> web.Response:
    try:
        await request.app[CONSOLE].desk.resolve(_case_id(request), _user(request))
    except DeskError as error:
        return _desk_error(error)
    return web.json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    if not _user(request).is_supervisor:
        return json_error(403, "supervisors only")
    return web.json_response({"ok": True, **casefile.statistics_view(request.app[CONSOLE].store)})


async def audit_log(request: web.Request) -> web.Response:
    if not _user(request).is_supervisor:
        return json_error(403, "supervisors only")
    return web.json_response({"ok": True, "entries": casefile.audit_view(request.app[CONSOLE].store)})


# -- live events ----------------------------------------------------------------------------------------
def _sse(kind: str, payload: dict) -> bytes:
    return f"event: {kind}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


async def _next_event(
    queue: asyncio.Queue[tuple[str, dict]], closing: asyncio.Event, timeout_s: float
) -> tuple[str, dict] | None:
    """The next event, or None after `timeout_s` or when the gateway is shutting down."""
    getter = asyncio.ensure_future(queue.get())
    stopper = asyncio.ensure_future(closing.wait())
    done, pending = await asyncio.wait({getter, stopper}, timeout=timeout_s, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    return getter.result() if getter in done else None


async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: every case and message change, as it happens (ids and levels only)."""
    console = request.app[CONSOLE]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no",
    })
    await response.prepare(request)
    queue = console.hub.subscribe()
    checked = time.monotonic()
    try:
        await response.write(b"retry: 3000\n\n" + _sse("hello", {}))
        while not console.closing.is_set():
            event = await _next_event(queue, console.closing, HEARTBEAT_S)
            if event is not None:
                await response.write(_sse(*event))
            elif not console.closing.is_set():
                await response.write(b": ping\n\n")  # keeps proxies from closing an idle stream
            if time.monotonic() - checked > SESSION_RECHECK_S:
                if console.sessions.user(request.cookies.get(SESSION_COOKIE)) is None:
                    break  # signed out or disabled elsewhere: the stream ends with the session
                checked = time.monotonic()
    except ConnectionError:
        pass  # the browser went away
    finally:
        console.hub.unsubscribe(queue)
    return response


# -- guard: sessions, roles, CSRF, headers ---------------------------------------------------------------
PUBLIC_ROUTES = {"login_page", "login", "static"}
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
                               "frame-ancestors 'none'; form-action 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
}


@web.middleware
async def guard(request: web.Request, handler) -> web.StreamResponse:  # noqa: ANN001 - aiohttp handler
    if request.match_info.http_exception is not None:  # no such page
        if request.path == "/console":
            return _redirect("/console/")
        return await handler(request)
    route = request.match_info.route.name
    if route not in PUBLIC_ROUTES:
        user = request.app[CONSOLE].sessions.user(request.cookies.get(SESSION_COOKIE))
        if user is None:
            if request.path.startswith("/console/api/"):
                return json_error(401, "sign in first")
            return _redirect("/console/login")
        if request.method == "POST" and not await _csrf_ok(request, user):
            return json_error(403, "missing or wrong CSRF token")
        request[USER] = user
    response = await handler(request)
    if not response.prepared:
        response.headers.update(SECURITY_HEADERS)
        # Pages and data are never kept; scripts and styles are re-validated, so an upgrade shows at once.
        response.headers["Cache-Control"] = "no-cache" if route == "static" else "no-store"
    return response


async def _csrf_ok(request: web.Request, user: SessionUser) -> bool:
    token = request.headers.get("X-CSRF-Token")
    if token is None and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        token = str((await request.post()).get("csrf", ""))
    return tokens_match(user.csrf_token, token)
