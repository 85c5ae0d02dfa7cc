"""What the push platforms (Telegram, Zalo OA, Zalo Bot) share: intake with a safe fallback, length limits,
splitting long replies, and buttons for platforms that only show text.

A platform message is acknowledged only once it is stored. If the database refuses it, the child gets the
safe reply (with 111) straight away and the platform is asked to resend; the same notice is not repeated
when the resend fails again.
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from enum import Enum
from typing import Callable, Sequence

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from bot.messages import Button, InboundMessage, OutboundMessage
from bot.store import Message, Store
from bot.texts import Texts
from connectors.base import DeliveryError, Intake, SafeReply, accept_safely, json_error

log = logging.getLogger(__name__)

Measure = Callable[[str], int]
NOTICES_REMEMBERED = 10_000
TOO_LONG_NOTICE = "utter_message_too_long"
CHOOSE_BY_NUMBER_HINT = "utter_choose_by_number"


class Taken(Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"  # the platform resent a message already stored
    TOO_LONG = "too_long"
    NOT_STORED = "not_stored"  # the database refused it: the platform must resend


def utf16_len(text: str) -> int:
    """Length as Telegram counts it (UTF-16 code units: an emoji counts twice)."""
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int, measure: Measure = len) -> list[str]:
    """Cut a text into chunks of at most `limit`, preferring paragraph, then line, then word boundaries."""
    chunks: list[str] = []
    rest = text.strip()
    while rest:
        end = _longest_fitting_prefix(rest, limit, measure)
        if end < len(rest):
            for separator in ("\n\n", "\n", " "):
                cut = rest.rfind(separator, 0, end)
                if cut > 0:
                    end = cut
                    break
        chunks.append(rest[:end].rstrip())
        rest = rest[end:].lstrip()
    return chunks


def _longest_fitting_prefix(text: str, limit: int, measure: Measure) -> int:
    if measure(text) <= limit:
        return len(text)
    low, high = 1, len(text)  # a prefix of one character always fits (limit >= 2)
    while low < high:
        middle = (low + high + 1) // 2
        if measure(text[:middle]) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def with_numbered_choices(text: str, buttons: Sequence[Button], hint: str = "") -> str:
    """Buttons as numbered lines under the text, for platforms that cannot show buttons."""
    if not buttons:
        return text
    lines = "\n".join(f"{number}. {button.title}" for number, button in enumerate(buttons, 1))
    return f"{text}\n\n{lines}" + (f"\n{hint}" if hint else "")


def typed_choice(text: str, offered: Sequence[Button]) -> str | None:
    """The payload of the button a person picked by typing its number or its title, if they did."""
    answer = text.strip().rstrip(".").strip().casefold()
    if answer.isdigit() and 1 <= int(answer) <= len(offered):
        return offered[int(answer) - 1].payload
    for button in offered:
        if button.title.strip().casefold() == answer:
            return button.payload
    return None


def last_offered_buttons(store: Store, channel: str, user_id: str) -> list[Button]:
    """The buttons of the last reply this person got (the database keeps them, so a restart loses nothing)."""
    try:
        contact = store.find_contact(channel, user_id)
        if contact is None:
            return []
        with store.session() as session:
            raw = session.scalar(
                select(Message.buttons)
                .where(Message.contact_id == contact.id, Message.direction == "out")
                .order_by(Message.id.desc())
                .limit(1)
            )
    except SQLAlchemyError:
        return []  # storing will fail too, and the child then gets the safe reply
    return [Button(b["title"], b["payload"]) for b in json.loads(raw)] if raw else []


def typed_inbound(channel: str, store: Store, user_id: str, text: str, dedupe_key: str) -> InboundMessage:
    """A typed message; a number or title picking one of the buttons just offered becomes its payload."""
    payload = typed_choice(text, last_offered_buttons(store, channel, user_id))
    if payload is not None:
        return InboundMessage(channel, user_id, payload, dedupe_key, is_button=True)
    return InboundMessage(channel, user_id, text, dedupe_key)


class PushChannel:
    """Base for channels whose replies the outbox worker pushes through `send()`."""

    name: str
    push = True

    def __init__(self, intake: Intake, safe_reply: SafeReply, texts: Texts, max_chars: int) -> None:
        self.intake = intake
        self.safe_reply = safe_reply
        self.texts = texts
        self.max_chars = max_chars
        # Platforms resend unacknowledged messages: a notice already sent for one is not sent again.
        self._notified: OrderedDict[tuple[str, str], None] = OrderedDict()

    async def send(self, user_id: str, message: OutboundMessage) -> None:
        raise NotImplementedError

    async def take(self, inbound: InboundMessage) -> Taken:
        """Store one message from the platform, or tell the child why it could not be taken."""
        if len(inbound.text) > self.max_chars:
            await self._notify_once(inbound, TOO_LONG_NOTICE, lambda: self.texts.render(TOO_LONG_NOTICE))
            return Taken.TOO_LONG
        result = accept_safely(self.intake, inbound)
        if not result.stored:
            await self._notify_once(inbound, "safe_reply", self.safe_reply)
            return Taken.NOT_STORED
        return Taken.DUPLICATE if result.duplicate else Taken.STORED

    def webhook_response(self, taken: Taken | None) -> web.Response:
        """The answer to the platform: 200 once stored (or deliberately ignored); 500 asks it to resend."""
        if taken is None:
            return web.json_response({"ok": True, "ignored": True})
        if taken is Taken.TOO_LONG:
            return json_error(413, f"text is longer than {self.max_chars} characters")
        if taken is Taken.NOT_STORED:
            return json_error(500, "temporarily unable to store the message; resend it")
        return web.json_response({"ok": True, "duplicate": taken is Taken.DUPLICATE})

    def choice_hint(self) -> str:
        return self.texts.render(CHOOSE_BY_NUMBER_HINT)[0].text if CHOOSE_BY_NUMBER_HINT in self.texts else ""

    async def _notify_once(
        self, inbound: InboundMessage, notice: str, replies: Callable[[], list[OutboundMessage]]
    ) -> None:
        key = (inbound.user_id + "\x00" + (inbound.dedupe_key or inbound.text), notice)
        if key in self._notified:
            return
        self._notified[key] = None
        if len(self._notified) > NOTICES_REMEMBERED:
            self._notified.popitem(last=False)
        for reply in replies():
            try:
                await self.send(inbound.user_id, reply)  # directly: the outbox is in the database
            except DeliveryError as error:
                log.warning("%s: could not send %s directly: %s", self.name, notice, error)
                return
