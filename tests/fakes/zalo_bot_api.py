"""A fake Zalo Bot API (the Telegram-like one): POST /bot<TOKEN>/<method>, and the platform's side of the
webhook (`deliver()` sends an update with the secret given to setWebhook)."""

from __future__ import annotations

import itertools
import json
import time
from typing import Any

from aiohttp import web

from tests.fakes.base import FakeServer, bot_api_error

TOKEN = "2100000000:fake-zalo-bot-token"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
TEXT_LIMIT = 2000


class FakeZaloBot(FakeServer):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.calls: list[tuple[str, dict]] = []
        self.sent: list[dict] = []  # {"chat_id", "text", "at"}
        self.rate_limited: list[dict] = []
        self.rate_limit_next: list[int] = []  # retry_after values: the next sendMessage calls get 429
        self.webhook: dict[str, Any] = {}
        self._ids = itertools.count(1)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        return app

    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return bot_api_error(401, "Unauthorized")
        method, params = request.match_info["method"], await request.json()
        self.calls.append((method, params))
        if method == "setWebhook":
            self.webhook = params
            return web.json_response({"ok": True, "result": {"url": params["url"]}})
        if method != "sendMessage":
            return bot_api_error(404, "Not Found")
        text = params.get("text", "")
        if not text or len(text) > TEXT_LIMIT:
            return bot_api_error(400, "Bad Request: text must be 1-2000 characters")
        if self.rate_limit_next:
            retry_after = self.rate_limit_next.pop(0)
            self.rate_limited.append({**params, "at": time.monotonic()})
            return bot_api_error(429, "Too Many Requests", {"retry_after": retry_after})
        self.sent.append({"chat_id": str(params["chat_id"]), "text": text, "at": time.monotonic()})
        return web.json_response({"ok": True, "result": {"message_id": f"b{next(self._ids)}",
                                                         "date": int(time.time() * 1000)}})

    # -- the platform's side: updates ----------------------------------------------------------
    def text_update(self, chat_id: str, text: str, message_id: str | None = None, wrapped: bool = True) -> dict:
        update = {"event_name": "message.text.received", "message": {
            "message_id": message_id or f"z{next(self._ids)}", "date": int(time.time() * 1000), "text": text,
            "chat": {"id": chat_id, "chat_type": "PRIVATE"},
            "from": {"id": chat_id, "display_name": "An", "is_bot": False},
        }}
        return {"ok": True, "result": update} if wrapped else update

    async def deliver(self, url: str, update: dict | bytes, secret: str | None = None) -> tuple[int, dict]:
        secret = self.webhook.get("secret_token") if secret is None else secret
        body = update if isinstance(update, bytes) else json.dumps(update, ensure_ascii=False).encode()
        return await self.post_webhook(url, body, {SECRET_HEADER: secret} if secret else {})

    def texts_to(self, chat_id: str) -> list[str]:
        return [m["text"] for m in self.sent if m["chat_id"] == chat_id]
