"""Zalo Bot (the Telegram-like Bot API): webhook updates in, sendMessage out.

Methods are POST {base}/bot{TOKEN}/{method}. The webhook carries the secret given to setWebhook in
`X-Bot-Api-Secret-Token`. Updates come wrapped ({"ok": true, "result": {...}}) or bare; both are accepted.
There is no update id: `message.message_id` makes a resend a no-op.

No inline buttons: buttons are numbered lines, and a typed number (or title) becomes the payload.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
from typing import Any

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.messages import OutboundMessage
from bot.store import Store
from bot.texts import Texts
from connectors.base import DeliveryError, Intake, SafeReply, json_error, read_json
from connectors.push import PushChannel, split_text, typed_inbound, with_numbered_choices

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/zalo/bot/webhook"
SECRET_HEADER = "X-Bot-Api-Secret-Token"
TEXT_EVENT = "message.text.received"
TEXT_LIMIT = 2000  # sendMessage text
RATE_LIMITED = 429
PERMANENT_ERRORS = {400, 403, 404}  # bad request, blocked, unknown chat: resending cannot help
HTTP_TIMEOUT_S = 10


class ZaloBotError(Exception):
    def __init__(self, code: int | None, description: str, retry_after_s: float | None = None) -> None:
        super().__init__(f"Zalo Bot error {code}: {description}")
        self.code = code
        self.retry_after_s = retry_after_s


class ZaloBotChannel(PushChannel):
    name = "zalo_bot"

    def __init__(
        self, intake: Intake, safe_reply: SafeReply, texts: Texts, store: Store, max_chars: int,
        token: str, secret: str, api_base_url: str, webhook_url: str = "",
    ) -> None:
        super().__init__(intake, safe_reply, texts, max_chars)
        self.store = store
        self.secret = secret
        self.webhook_url = webhook_url
        self._api = f"{api_base_url.rstrip('/')}/bot{token}/"
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, intake: Intake, safe_reply: SafeReply, texts: Texts, store: Store
    ) -> ZaloBotChannel | None:
        if not settings.zalo_bot_token:
            return None
        if not settings.zalo_bot_api_base_url:
            log.error("Zalo Bot not started: ZALO_BOT_API_BASE_URL is not set (see the Zalo Bot documentation)")
            return None
        if len(settings.zalo_bot_webhook_secret) < 8:
            log.error("Zalo Bot not started: ZALO_BOT_WEBHOOK_SECRET must be 8-256 characters")
            return None
        return cls(intake, safe_reply, texts, store, settings.max_message_chars, settings.zalo_bot_token,
                   settings.zalo_bot_webhook_secret, settings.zalo_bot_api_base_url,
                   settings.zalo_bot_webhook_url)

    def routes(self) -> list[web.RouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)]

    async def start(self) -> None:
        if not self.webhook_url:
            return
        try:
            await self.call("setWebhook", {"url": self.webhook_url, "secret_token": self.secret})
        except ZaloBotError as error:
            # The webhook may have been set by hand already; the gateway keeps serving other channels.
            log.error("Zalo Bot setWebhook failed: %s", error)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    # -- receiving ------------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return json_error(403, f"missing or wrong {SECRET_HEADER}")
        body = await read_json(request)
        if body.get("ok") is True and isinstance(body.get("result"), dict):
            body = body["result"]  # the documented wrapping; bare updates are seen in practice
        if body.get("event_name") != TEXT_EVENT:
            return self.webhook_response(None)
        message = body.get("message")
        if not isinstance(message, dict):
            return json_error(400, "message.text.received needs a message object")
        chat, sender = message.get("chat"), message.get("from")
        chat_id = chat.get("id") if isinstance(chat, dict) else None
        chat_id = chat_id or (sender.get("id") if isinstance(sender, dict) else None)
        text, message_id = message.get("text"), message.get("message_id")
        if not isinstance(chat_id, (str, int)) or not isinstance(text, str) or not message_id:
            return json_error(400, "message.text.received needs message.chat.id, message.text and message.message_id")
        if isinstance(chat, dict) and chat.get("chat_type", "PRIVATE") != "PRIVATE":
            return self.webhook_response(None)  # only private chats: a child's conversation never goes to a group
        if not text.strip():
            return self.webhook_response(None)
        inbound = typed_inbound(self.name, self.store, str(chat_id), text.strip(), f"m{message_id}"[:128])
        return self.webhook_response(await self.take(inbound))

    # -- sending --------------------------------------------------------------------------------
    async def send(self, user_id: str, message: OutboundMessage) -> None:
        text = with_numbered_choices(message.text, message.buttons, self.choice_hint())
        for chunk in split_text(text, TEXT_LIMIT):
            try:
                await self.call("sendMessage", {"chat_id": user_id, "text": chunk})
            except ZaloBotError as error:
                if error.code == RATE_LIMITED:
                    raise DeliveryError(str(error), retry_after_s=error.retry_after_s or 5.0) from error
                if error.code in PERMANENT_ERRORS:
                    raise DeliveryError(str(error), retry_after_s=None) from error
                raise DeliveryError(str(error)) from error

    async def call(self, method: str, params: dict[str, Any]) -> Any:
        """One Bot API call; its `result`, or ZaloBotError."""
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        try:
            async with self._http.post(self._api + method, json=params) as response:
                status = response.status
                try:
                    body = await response.json(content_type=None)
                except ValueError:
                    body = None
        except (aiohttp.ClientError, asyncio.TimeoutError) as error:
            raise ZaloBotError(None, f"unreachable: {error!r}") from error
        if isinstance(body, dict) and body.get("ok") is True:
            return body.get("result")
        if not isinstance(body, dict):
            raise ZaloBotError(status, f"HTTP {status} without a Bot API answer")
        parameters = body.get("parameters") if isinstance(body.get("parameters"), dict) else {}
        retry_after = parameters.get("retry_after")
        raise ZaloBotError(
            body.get("error_code", status), str(body.get("description", "")),
            float(retry_after) if isinstance(retry_after, (int, float)) else None,
        )
