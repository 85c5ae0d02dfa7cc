"""The channel interface every platform connector implements.

A connector turns a platform's inbound request into `InboundMessage`s handed to the intake, and sends
`OutboundMessage`s back. Everything platform-specific (authentication, dedupe keys, limits, message
splitting, buttons) stays inside its module; adding Messenger or Viber is one new file.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Callable, Protocol

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.messages import InboundMessage, OutboundMessage

log = logging.getLogger(__name__)


class DeliveryError(Exception):
    """Sending failed; `retry_after_s` says when to try again (None: permanent failure)."""

    def __init__(self, message: str, retry_after_s: float | None = 5.0) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class IntakeResult:
    stored: bool  # False: the database refused; the platform should resend later
    duplicate: bool = False


Intake = Callable[[InboundMessage], IntakeResult]
SafeReply = Callable[[], list[OutboundMessage]]


class Channel(Protocol):
    name: str
    push: bool  # True: the outbox worker calls send(); False: the client pulls (web chat)

    def routes(self) -> list[web.RouteDef]: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, user_id: str, message: OutboundMessage) -> None: ...


def json_error(status: int, error: str, **extra: object) -> web.Response:
    """Every rejected request gets a clear JSON error (never a crash, never a silent drop)."""
    return web.json_response({"ok": False, "error": error, **extra}, status=status)


async def read_json(request: web.Request, max_bytes: int = 256 * 1024) -> dict:
    """Parse a JSON object body or raise an HTTP error response that says what is wrong."""
    if request.content_length is not None and request.content_length > max_bytes:
        raise web.HTTPRequestEntityTooLarge(max_size=max_bytes, actual_size=request.content_length,
                                            text=json.dumps({"ok": False, "error": "body too large"}),
                                            content_type="application/json")
    raw = await request.read()
    return parse_json_object(raw)


def parse_json_object(raw: bytes) -> dict:
    try:
        body = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "body is not valid JSON"}),
                                 content_type="application/json") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text=json.dumps({"ok": False, "error": "body must be a JSON object"}),
                                 content_type="application/json")
    return body


def accept_safely(intake: Intake, inbound: InboundMessage) -> IntakeResult:
    """Store the message; on a database failure say so instead of raising."""
    try:
        return intake(inbound)
    except SQLAlchemyError:
        log.exception("could not store a %s message", inbound.channel)
        return IntakeResult(stored=False)
