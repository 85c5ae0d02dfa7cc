"""The local web chat: a page on the gateway, talking JSON to two endpoints.

POST /webchat/api/messages   {"user": "<id>", "text": "..."}  -> 202 {"ok": true, "id": N}
GET  /webchat/api/messages?user=<id>&after=<id>&wait=<s>       -> {"ok": true, "messages": [...]}

The user id is a random token the page keeps in localStorage: it is the only identity, so it must be
long and unguessable. Replies are pulled (long polling), so this channel never pushes.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.messages import InboundMessage, OutboundMessage
from bot.store import Store
from connectors.base import Intake, SafeReply, accept_safely, json_error, read_json

USER_ID_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
PAGE = Path(__file__).with_name("webchat.html")
POLL_INTERVAL_S = 0.25
MAX_WAIT_S = 25.0


def message_json(message) -> dict:  # noqa: ANN001 - a store Message
    return {
        "id": message.id,
        "from": message.sender,
        "text": message.text,
        "buttons": json.loads(message.buttons) if message.buttons else [],
        "risk": message.risk,
    }


class WebChat:
    name = "webchat"
    push = False

    def __init__(self, intake: Intake, store: Store, safe_reply: SafeReply, max_chars: int) -> None:
        self.intake = intake
        self.store = store
        self.safe_reply = safe_reply
        self.max_chars = max_chars

    def routes(self) -> list[web.RouteDef]:
        return [
            web.get("/", self.page),
            web.get("/webchat", self.page),
            web.post("/webchat/api/messages", self.post_message),
            web.get("/webchat/api/messages", self.get_messages),
        ]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def send(self, user_id: str, message: OutboundMessage) -> None:
        raise NotImplementedError("the web chat pulls its messages")  # never called: push is False

    async def page(self, _request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(encoding="utf-8"), content_type="text/html")

    async def post_message(self, request: web.Request) -> web.Response:
        body = await read_json(request)
        user, text = body.get("user"), body.get("text")
        if not isinstance(user, str) or not USER_ID_RE.match(user):
            return json_error(400, "user must be a random id of 16-64 letters, digits, '-' or '_'")
        if not isinstance(text, str) or not text.strip():
            return json_error(400, "text must be a non-empty string")
        if len(text) > self.max_chars:
            return json_error(413, f"text is longer than {self.max_chars} characters")
        is_button = bool(body.get("button"))
        result = accept_safely(self.intake, InboundMessage(self.name, user, text.strip(), None, is_button))
        if not result.stored:
            # The message could not be stored: say so, and still give the child the safe reply.
            replies = [{"from": "system", "text": r.text, "buttons": []} for r in self.safe_reply()]
            return json_error(503, "temporarily unable to store the message; please resend", replies=replies)
        return web.json_response({"ok": True}, status=202)

    async def get_messages(self, request: web.Request) -> web.Response:
        user = request.query.get("user", "")
        if not USER_ID_RE.match(user):
            return json_error(400, "user must be a random id of 16-64 letters, digits, '-' or '_'")
        try:
            after = int(request.query.get("after", "0"))
            wait = min(float(request.query.get("wait", "0")), MAX_WAIT_S)
        except ValueError:
            return json_error(400, "after must be an integer and wait a number of seconds")
        try:
            contact = self.store.find_contact(self.name, user)
            if contact is None:
                return json_error(404, "unknown user: send a message first")
            deadline = time.monotonic() + max(wait, 0.0)
            while True:
                messages = self.store.transcript(contact.id, after_id=after)
                if messages or time.monotonic() >= deadline:
                    break
                await asyncio.sleep(POLL_INTERVAL_S)
        except SQLAlchemyError:
            return json_error(503, "temporarily unable to read messages")
        outbound = [m for m in messages if m.direction == "out" and m.status == "queued"]
        for m in outbound:
            self.store.mark_sent(m.id)
        return web.json_response({"ok": True, "messages": [message_json(m) for m in messages]})
