"""Zalo Official Account (OA API v3): webhook events in, customer-service messages out.

Zalo signs each event: `X-ZEvent-Signature: mac=<hex>`, hex = sha256(app_id + raw body + timestamp +
OA secret key), the timestamp being the body's "timestamp" field. Unsigned or wrongly signed events are
refused. An event is acknowledged once stored (Zalo resends unacknowledged ones); `message.msg_id` makes
a resend a no-op.

The OA text message has no buttons we could verify, so buttons are numbered lines; the child answers
with the number (or the title) and the connector turns that back into the button's payload.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging

import aiohttp
from aiohttp import web

from bot.config import Settings
from bot.messages import OutboundMessage
from bot.store import Store
from bot.texts import Texts
from connectors.base import DeliveryError, Intake, SafeReply, json_error, parse_json_object
from connectors.push import PushChannel, split_text, typed_inbound, with_numbered_choices

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/zalo/oa/webhook"
SIGNATURE_HEADER = "X-ZEvent-Signature"
TEXT_EVENT = "user_send_text"
SEND_PATH = "/v3.0/oa/message/cs"
# Not confirmed for the OA API; the Zalo Bot API documents 2000, so stay within that.
TEXT_LIMIT = 2000
NOT_INTERACTED_RECENTLY = -230  # the user has not written to the OA in the last 7 days
MAX_BODY_BYTES = 256 * 1024
HTTP_TIMEOUT_S = 10


class ZaloOAChannel(PushChannel):
    name = "zalo_oa"

    def __init__(
        self, intake: Intake, safe_reply: SafeReply, texts: Texts, store: Store, max_chars: int,
        app_id: str, secret_key: str, access_token: str, api_base_url: str,
    ) -> None:
        super().__init__(intake, safe_reply, texts, max_chars)
        self.store = store
        self.app_id = app_id
        self.secret_key = secret_key
        self.access_token = access_token
        self.api_base_url = api_base_url.rstrip("/")
        self._http: aiohttp.ClientSession | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, intake: Intake, safe_reply: SafeReply, texts: Texts, store: Store
    ) -> ZaloOAChannel | None:
        needed = {"ZALO_OA_APP_ID": settings.zalo_oa_app_id, "ZALO_OA_SECRET_KEY": settings.zalo_oa_secret_key,
                  "ZALO_OA_ACCESS_TOKEN": settings.zalo_oa_access_token}
        if not settings.zalo_oa_access_token:
            return None
        missing = [name for name, value in needed.items() if not value]
        if missing:
            log.error("Zalo OA not started: %s missing (events cannot be verified)", ", ".join(missing))
            return None
        return cls(intake, safe_reply, texts, store, settings.max_message_chars, settings.zalo_oa_app_id,
                   settings.zalo_oa_secret_key, settings.zalo_oa_access_token, settings.zalo_oa_api_base_url)

    def routes(self) -> list[web.RouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)]

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.close()

    # -- receiving ------------------------------------------------------------------------------
    def signature(self, raw_body: bytes, timestamp: str) -> str:
        signed = self.app_id.encode() + raw_body + timestamp.encode() + self.secret_key.encode()
        return hashlib.sha256(signed).hexdigest()

    async def webhook(self, request: web.Request) -> web.Response:
        header = request.headers.get(SIGNATURE_HEADER, "")
        if not header.startswith("mac="):
            return json_error(401, f"missing {SIGNATURE_HEADER}: mac=<hex>")
        if (request.content_length or 0) > MAX_BODY_BYTES:
            return json_error(413, "body too large")
        raw = await request.read()
        body = parse_json_object(raw)
        timestamp = body.get("timestamp")
        if not isinstance(timestamp, (str, int)) or isinstance(timestamp, bool):
            return json_error(400, "timestamp missing: the event cannot be verified")
        if not hmac.compare_digest(header.removeprefix("mac=").strip().lower().encode(),
                                   self.signature(raw, str(timestamp)).encode()):
            return json_error(403, f"bad {SIGNATURE_HEADER}")
        if body.get("event_name") != TEXT_EVENT:
            return self.webhook_response(None)  # follows, reactions, images...: acknowledged, not handled
        sender, message = body.get("sender"), body.get("message")
        user_id = sender.get("id") if isinstance(sender, dict) else None
        text = message.get("text") if isinstance(message, dict) else None
        msg_id = message.get("msg_id") if isinstance(message, dict) else None
        if not isinstance(user_id, str) or not user_id or not isinstance(text, str) or not msg_id:
            return json_error(400, "user_send_text needs sender.id, message.text and message.msg_id")
        if not text.strip():
            return self.webhook_response(None)
        inbound = typed_inbound(self.name, self.store, user_id, text.strip(), f"m{msg_id}"[:128])
        return self.webhook_response(await self.take(inbound))

    # -- sending --------------------------------------------------------------------------------
    async def send(self, user_id: str, message: OutboundMessage) -> None:
        text = with_numbered_choices(message.text, message.buttons, self.choice_hint())
        for chunk in split_text(text, TEXT_LIMIT):
            await self._send_text(user_id, chunk)

    async def _send_text(self, user_id: str, text: str) -> None:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT_S))
        body = {"recipient": {"user_id": user_id}, "message": {"text": text}}
        try:
            async with self._http.post(self.api_base_url + SEND_PATH, json=body,
                                       headers={"access_token": self.access_token}) as response:
                if response.status >= 400:
                    raise DeliveryError(f"Zalo OA answered HTTP {response.status}")
                result = await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise DeliveryError(f"Zalo OA unreachable: {error!r}") from error
        code = result.get("error") if isinstance(result, dict) else None
        if code == 0:
            return
        description = f"Zalo OA error {code}: {result.get('message') if isinstance(result, dict) else result}"
        if code == NOT_INTERACTED_RECENTLY:
            raise DeliveryError(description, retry_after_s=None)  # only the child writing again reopens it
        raise DeliveryError(description)
