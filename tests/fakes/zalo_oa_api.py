"""A fake Zalo Official Account API (v3): the customer-service message endpoint, and Zalo's side of the
webhook (`deliver()` signs each event as Zalo does: sha256(app_id + body + timestamp + OA secret key))."""

from __future__ import annotations

import hashlib
import itertools
import json
import time

from aiohttp import web

from tests.fakes.base import FakeServer

APP_ID = "4312345678901234567"
OA_ID = "579745863508352884"
SECRET_KEY = "fakeOASecretKey_0123456789"
ACCESS_TOKEN = "fake-oa-access-token"
SIGNATURE_HEADER = "X-ZEvent-Signature"


class FakeZaloOA(FakeServer):
    def __init__(self) -> None:
        super().__init__()
        self.sent: list[dict] = []  # {"user_id", "text", "at"} of every accepted message
        self.attempts: list[dict] = []  # every call, accepted or not
        self.next_errors: list[dict] = []  # answered, in turn, instead of success
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v3.0/oa/message/cs", self._send)
        return app

    async def _send(self, request: web.Request) -> web.Response:
        body = await request.json()
        self.attempts.append({"headers": dict(request.headers), "body": body, "at": time.monotonic()})
        if request.headers.get("access_token") != ACCESS_TOKEN:
            return web.json_response({"error": -216, "message": "Access token is invalid"})
        if self.next_errors:
            return web.json_response(self.next_errors.pop(0))
        user_id, text = body["recipient"]["user_id"], body["message"]["text"]
        self.sent.append({"user_id": user_id, "text": text, "at": time.monotonic()})
        return web.json_response({"error": 0, "message": "Success",
                                  "data": {"message_id": f"mid{next(self._ids)}", "user_id": user_id}})

    # -- Zalo's side: events --------------------------------------------------------------------
    def text_event(self, user_id: str, text: str, msg_id: str | None = None) -> dict:
        return {"app_id": APP_ID, "user_id_by_app": f"app{user_id}", "event_name": "user_send_text",
                "sender": {"id": user_id}, "recipient": {"id": OA_ID},
                "message": {"text": text, "msg_id": msg_id or f"msg{next(self._ids)}"},
                "timestamp": str(int(time.time() * 1000))}

    @staticmethod
    def signature(body: bytes, timestamp: str, secret_key: str = SECRET_KEY) -> str:
        return hashlib.sha256(APP_ID.encode() + body + timestamp.encode() + secret_key.encode()).hexdigest()

    async def deliver(self, url: str, event: dict | bytes, signature: str | None = None) -> tuple[int, dict]:
        """POST an event to the gateway, signed unless a signature ("" for none) is given."""
        body = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
        if signature is None:
            signature = "mac=" + self.signature(body, str(json.loads(body)["timestamp"]))
        headers = {SIGNATURE_HEADER: signature} if signature else {}
        return await self.post_webhook(url, body, headers)

    def texts_to(self, user_id: str) -> list[str]:
        return [m["text"] for m in self.sent if m["user_id"] == user_id]
