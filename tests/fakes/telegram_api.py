"""A fake Telegram Bot API server: the methods the gateway uses, with Telegram's bodies and errors.

python-telegram-bot talks to it over HTTP (`base_url=<url>/bot`). It also plays Telegram's side of the
webhook: `deliver()` POSTs an update to the URL given to setWebhook, with its secret token.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from typing import Any, Awaitable, Callable

from aiohttp import web

from tests.fakes.base import FakeServer, bot_api_error

TOKEN = "123456:TEST-token_for-the-fake"
JSON_PARAMS = {"reply_markup", "allowed_updates", "commands"}  # PTB sends these JSON-encoded in a form
INT_PARAMS = {"offset", "timeout", "limit"}
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class FakeTelegram(FakeServer):
    def __init__(self, token: str = TOKEN) -> None:
        super().__init__()
        self.token = token
        self.calls: list[tuple[str, dict]] = []  # every API call, in order
        self.sent: list[dict] = []  # the Message objects created by sendMessage (plus "at": time)
        self.rate_limited: list[dict] = []  # sendMessage calls answered 429 (plus "at")
        self.answered_callbacks: list[str] = []
        self.webhook: dict[str, Any] = {}
        self.commands: list[dict] = []
        self.rate_limit_next: list[int] = []  # retry_after values: the next sendMessage calls get 429
        self.blocked_chats: set[int] = set()  # sendMessage to these: 403 "bot was blocked by the user"
        self._updates: list[dict] = []
        self._new_update = asyncio.Event()
        self._closing = False
        self._ids = itertools.count(1000)
        self._methods: dict[str, Callable[[dict], Awaitable[Any]]] = {
            "getMe": self._get_me, "sendMessage": self._send_message, "answerCallbackQuery": self._answer,
            "setWebhook": self._set_webhook, "deleteWebhook": self._delete_webhook,
            "setMyCommands": self._set_commands, "getUpdates": self._get_updates,
        }

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self._handle)
        return app

    # -- the API --------------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return bot_api_error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await _params(request)
        self.calls.append((method, params))
        handler = self._methods.get(method)
        if handler is None:
            return bot_api_error(404, "Not Found")
        try:
            return web.json_response({"ok": True, "result": await handler(params)})
        except _ApiError as error:
            return error.response

    async def _get_me(self, _params: dict) -> dict:
        return {"id": 123456, "is_bot": True, "first_name": "Trợ lý", "username": "fake_assistant_bot"}

    async def _send_message(self, params: dict) -> dict:
        chat_id = int(params["chat_id"])
        text = params.get("text", "")
        if not text or len(text.encode("utf-16-le")) // 2 > 4096:
            raise _ApiError(bot_api_error(400, "Bad Request: message text is empty or too long"))
        if self.rate_limit_next:
            retry_after = self.rate_limit_next.pop(0)
            self.rate_limited.append({**params, "at": time.monotonic()})
            raise _ApiError(
                bot_api_error(429, f"Too Many Requests: retry after {retry_after}", {"retry_after": retry_after})
            )
        if chat_id in self.blocked_chats:
            raise _ApiError(bot_api_error(403, "Forbidden: bot was blocked by the user"))
        message = {"message_id": next(self._ids), "date": int(time.time()), "text": text,
                   "chat": {"id": chat_id, "type": "private"}}
        if params.get("reply_markup"):
            message["reply_markup"] = params["reply_markup"]
        self.sent.append({**message, "at": time.monotonic()})
        return message

    async def _answer(self, params: dict) -> bool:
        self.answered_callbacks.append(params["callback_query_id"])
        return True

    async def _set_webhook(self, params: dict) -> bool:
        self.webhook = params
        return True

    async def _delete_webhook(self, _params: dict) -> bool:
        self.webhook = {}
        return True

    async def _set_commands(self, params: dict) -> bool:
        self.commands = params["commands"]
        return True

    async def _get_updates(self, params: dict) -> list[dict]:
        if self.webhook:
            raise _ApiError(bot_api_error(409, "Conflict: can't use getUpdates method while webhook is active"))
        offset = params.get("offset")
        if offset:  # like Telegram: an offset confirms every earlier update
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self._updates and not self._closing and time.monotonic() < deadline:
            self._new_update.clear()
            try:
                await asyncio.wait_for(self._new_update.wait(), deadline - time.monotonic())
            except asyncio.TimeoutError:
                break
        return list(self._updates)

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True  # end pending long polls now rather than at their timeout
        self._new_update.set()
        await super().__aexit__(*exc)

    # -- Telegram's side: updates ---------------------------------------------------------------
    def text_update(self, chat_id: int, text: str, update_id: int | None = None) -> dict:
        update_id = update_id or next(self._ids)
        return {"update_id": update_id, "message": {
            "message_id": update_id, "date": int(time.time()), "text": text,
            "from": {"id": chat_id, "is_bot": False, "first_name": "An"},
            "chat": {"id": chat_id, "type": "private"},
        }}

    def callback_update(self, chat_id: int, data: str, message: dict | None = None) -> dict:
        """A button press on `message` (by default the last message sent to the chat)."""
        update_id = next(self._ids)
        message = message or {k: v for k, v in self.sent_to(chat_id)[-1].items() if k != "at"}
        return {"update_id": update_id, "callback_query": {
            "id": f"cq{update_id}", "chat_instance": "ci1", "data": data, "message": message,
            "from": {"id": chat_id, "is_bot": False, "first_name": "An"},
        }}

    def queue_update(self, update: dict) -> None:
        """For getUpdates (polling mode)."""
        self._updates.append(update)
        self._new_update.set()

    async def deliver(self, update: dict | bytes, secret: str | None = None) -> tuple[int, dict]:
        """POST an update to the webhook, with the secret given to setWebhook unless told otherwise."""
        secret = self.webhook.get("secret_token") if secret is None else secret
        body = update if isinstance(update, bytes) else json.dumps(update).encode()
        headers = {SECRET_HEADER: secret} if secret else {}
        return await self.post_webhook(self.webhook["url"], body, headers)

    # -- what the gateway sent ------------------------------------------------------------------
    def sent_to(self, chat_id: int) -> list[dict]:
        return [m for m in self.sent if m["chat"]["id"] == chat_id]

    def texts_to(self, chat_id: int) -> list[str]:
        return [m["text"] for m in self.sent_to(chat_id)]



def keyboard(message: dict) -> list[tuple[str, str]]:
    """(title, callback_data) of a sent message's inline keyboard."""
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [(button["text"], button["callback_data"]) for row in rows for button in row]


class _ApiError(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response



async def _params(request: web.Request) -> dict[str, Any]:
    if request.content_type == "application/json":
        params = dict(await request.json())
    else:
        params = dict(await request.post())
        for key in JSON_PARAMS & params.keys():
            params[key] = json.loads(params[key])
    for key in INT_PARAMS & params.keys():
        params[key] = int(params[key])
    return params
