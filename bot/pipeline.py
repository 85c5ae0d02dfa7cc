"""The message pipeline: channel -> inbox -> safety -> handover state -> Rasa -> outbox -> channel.

`accept()` stores a message and returns at once (so a channel can acknowledge it); `process()` does the
rest in a worker. Whatever fails after the message is stored (Rasa down, a crash mid-way), the child
gets a safe reply with 111 and the message is processed again when it can be.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from dataclasses import dataclass
from typing import Awaitable, Callable, Coroutine

from bot.bridge import Bridge, Turn
from bot.handover import Handover, Opened
from bot.knowledge.language import detect_language
from bot.knowledge.selection import topic_of_signals
from bot.knowledge.speaker import Audience, detect_speaker
from bot.messages import InboundMessage, OutboundMessage
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.safety import RANK, Assessment, Screen
from bot.safety.screen import POSSIBLE_RISK
from bot.store import Contact, ContactState, Store
from bot.texts import Texts

log = logging.getLogger(__name__)

# Commands work on every channel (Telegram shows them in its menu; others can type them).
COMMANDS = {"/start": "start", "/111": "hotline", "/xoa": "delete", "/xoá": "delete"}
WORKERS = 4
RISK_CONTEXT_MINUTES = 60  # earlier turns within this time colour how a message is read

Notify = Callable[[str, dict], Awaitable[None] | None]


@dataclass(frozen=True)
class Accepted:
    message_id: int | None  # None: a resend of a message already stored
    contact: Contact

    @property
    def duplicate(self) -> bool:
        return self.message_id is None


class Pipeline:
    def __init__(
        self, store: Store, screen: Screen, rasa: RasaClient, texts: Texts, handover: Handover,
        notify: Notify | None = None,
    ) -> None:
        self.store = store
        self.screen = screen
        self.rasa = rasa
        self.texts = texts
        self.handover = handover
        self.bridge = Bridge(store, handover, texts, screen)
        self._notify = notify
        self._queues: list[asyncio.Queue[int]] = []
        self._tasks: list[asyncio.Task] = []
        self._idle = asyncio.Event()
        self._idle.set()
        self._queued: set[int] = set()  # message ids waiting in a queue or being processed
        # Per contact: Rasa bookkeeping after a reply the gateway gave itself (interrupt a form, tell it the
        # speaker and topic). The reply never waits for it; the contact's next Rasa call does.
        self._rasa_updates: dict[int, asyncio.Task] = {}

    # -- intake ---------------------------------------------------------------------------------
    def accept(self, inbound: InboundMessage) -> Accepted:
        """Store the message (raises on database failure: the caller must not acknowledge then)."""
        contact = self.store.contact(inbound.channel, inbound.user_id)
        message = self.store.record_inbound(contact.id, inbound.text, inbound.dedupe_key)
        if message is None:
            return Accepted(None, contact)
        self.enqueue(message.id, contact.id)
        return Accepted(message.id, contact)

    def enqueue(self, message_id: int, contact_id: int) -> None:
        if not self._queues:
            return  # not started (e.g. a test drives process() directly); the sweeper finds it later
        if message_id in self._queued:
            return
        # One queue per worker, chosen by contact: a child's messages are answered in order.
        self._queued.add(message_id)
        self._idle.clear()
        self._queues[zlib.crc32(str(contact_id).encode()) % len(self._queues)].put_nowait(message_id)

    # -- workers --------------------------------------------------------------------------------
    def start(self, workers: int = WORKERS, sweep_interval_s: float = 5.0) -> None:
        self._queues = [asyncio.Queue() for _ in range(workers)]
        self._tasks = [asyncio.create_task(self._worker(q)) for q in self._queues]
        self._tasks.append(asyncio.create_task(self._sweeper(sweep_interval_s)))

    async def stop(self) -> None:
        tasks = self._tasks + list(self._rasa_updates.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks, self._queues = [], []

    async def drained(self) -> None:
        """Wait until every enqueued message has been processed and Rasa told what it must know (used by
        tests and shutdown)."""
        await self._idle.wait()
        while self._rasa_updates:
            await asyncio.gather(*self._rasa_updates.values(), return_exceptions=True)

    async def _worker(self, queue: asyncio.Queue[int]) -> None:
        while True:
            message_id = await queue.get()
            try:
                await self.process(message_id)
            except Exception:  # noqa: BLE001 - one bad message must not stop the worker
                log.exception("processing message %s failed; it stays in the inbox", message_id)
                self._safe_reply_after_failure(message_id)
            finally:
                self._queued.discard(message_id)
                if not self._queued:
                    self._idle.set()

    async def _sweeper(self, interval_s: float) -> None:
        """Re-queue messages left unanswered: after a restart or a failed attempt (status `received`,
        at once), or waiting for Rasa (status `pending`, once Rasa is back)."""
        while True:
            try:
                rasa_ready: bool | None = None
                for message_id in self.store.unprocessed_inbound():
                    if message_id in self._queued:
                        continue
                    message = self.store.message(message_id)
                    if message is None:
                        continue
                    if message.status == "pending":
                        if rasa_ready is None:
                            rasa_ready = await self.rasa.is_ready()
                        if not rasa_ready:
                            continue
                    self.enqueue(message_id, message.contact_id)
            except Exception:  # noqa: BLE001 - the database may be down; try again later
                log.exception("inbox sweep failed")
            await asyncio.sleep(interval_s)

    # -- processing -----------------------------------------------------------------------------
    async def process(self, message_id: int) -> list[OutboundMessage]:
        message = self.store.message(message_id)
        if message is None or message.status not in ("received", "pending"):
            return []
        contact = self.store.contact_by_id(message.contact_id)
        if contact is None:
            return []
        if message.status == "pending" and contact.state == ContactState.HUMAN:
            replies = []  # it waited for Rasa, but a person has the conversation now: Rasa is not asked
        elif message.status == "pending":  # screened before; only Rasa's answer is missing
            assessment = Assessment(message.risk or "none")
            replies = await self._ask_rasa(contact, message.text, assessment, retry=True)
        else:
            replies = await self._first_pass(contact, message.id, message.text)
        if replies is None:  # Rasa down: safe reply sent, message kept for later
            self.store.set_inbound_result(message_id, "pending")
            return []
        if not replies:
            replies = self._never_silent(message_id, contact.id)
        self._deliver(contact.id, replies)
        self.store.set_inbound_result(message_id, "processed")
        return replies

    async def _first_pass(self, contact: Contact, message_id: int, text: str) -> list[OutboundMessage] | None:
        command = COMMANDS.get(text.strip().split(" ")[0].lower()) if text.startswith("/") else None
        if command == "delete":
            self.store.delete_contact(contact.id, actor=f"{contact.channel}:self")
            # The contact is gone; the confirmation goes to a fresh, empty contact record.
            fresh = self.store.contact(contact.channel, contact.external_id)
            self._deliver(fresh.id, self.texts.render("utter_data_deleted"))
            return []
        window = self.handover.context_minutes(contact.id, RISK_CONTEXT_MINUTES)
        history = self.store.recent_risks(contact.id, message_id, within_minutes=window)
        assessment = self.screen.assess(text, history)
        self.store.set_inbound_result(message_id, "received", assessment.risk, assessment.signals)
        await self._publish("message", {"contact_id": contact.id, "message_id": message_id, "risk": assessment.risk})

        if contact.state == ContactState.HUMAN:
            if assessment.at_least("high"):
                await self._open_case(contact, assessment)  # flagged and raised for the counsellor
            return []  # a person owns the conversation: nothing automated is said
        if assessment.at_least("high"):
            opened = await self._open_case(contact, assessment)
            contact = self.store.contact_by_id(contact.id) or contact
            turn = self.bridge.safety_turn(contact, assessment, opened, text)
        elif command == "start":
            return self.texts.render("utter_start")
        elif command == "hotline":
            return self.texts.render("utter_ask_hotline/general") + self.texts.render("utter_next_ask_hotline__general")
        else:
            turn = self.bridge.answer(contact, text)
        if turn is not None:
            self._update_rasa_later(contact.id, self._tell_rasa_the_context(contact, text, assessment))
            return await self._announce(turn)
        # Rasa answers (in bot state, and while a case waits: topic questions are answered as usual).
        return await self._ask_rasa(contact, text, assessment)

    async def _tell_rasa_the_context(self, contact: Contact, text: str, assessment: Assessment) -> None:
        """A message answered here never reaches Rasa: tell Rasa who is writing and what it is about, so that
        the next question ("tôi có nên trả tiền không") gets the adult's answer on that topic. Best effort."""
        slots: dict[str, str | None] = {}
        cue = detect_speaker(text)
        if cue is not None:
            slots |= {"speaker": cue.speaker.value, "audience": Audience.ADULT.value, "address": cue.address}
        topic = topic_of_signals(assessment.signals)
        if topic is not None:
            slots["context_topic"] = topic
        if not slots:
            return
        try:
            await self.rasa.append_events(
                str(contact.id), [{"event": "slot", "name": name, "value": value} for name, value in slots.items()]
            )
        except RasaUnavailable:
            pass  # Rasa reads the speaker itself from the next message that names one

    async def _open_case(self, contact: Contact, assessment: Assessment) -> Opened:
        opened = self.handover.open_escalation(
            contact.id, assessment.risk, "safety", assessment.signals, rejoin=RANK[assessment.own] >= RANK["high"]
        )
        if not (opened.created or opened.raised):
            return opened  # the same level again: the case and any form in progress stay as they are
        await self._publish("escalation", {"escalation_id": opened.escalation.id, "risk": opened.escalation.risk})
        self._update_rasa_later(contact.id, self._interrupt_rasa(contact))
        return opened

    async def _interrupt_rasa(self, contact: Contact) -> None:
        try:
            await self.rasa.interrupt(str(contact.id))
        except RasaUnavailable:
            pass  # nothing to interrupt if Rasa is down; the reply does not depend on it

    def _update_rasa_later(self, contact_id: int, update: Coroutine[object, object, None]) -> None:
        """Run `update` after the contact's earlier updates, without holding up the reply: a slow or hanging
        Rasa must not delay a safety reply by its timeout."""
        previous = self._rasa_updates.get(contact_id)

        async def in_order() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await update
            except Exception:  # noqa: BLE001 - bookkeeping; the child's reply has gone already
                log.exception("updating Rasa for contact %s failed", contact_id)

        task = asyncio.create_task(in_order())
        self._rasa_updates[contact_id] = task

        def forget(done: asyncio.Task) -> None:
            if self._rasa_updates.get(contact_id) is done:
                del self._rasa_updates[contact_id]

        task.add_done_callback(forget)

    async def _rasa_caught_up(self, contact_id: int) -> None:
        pending = self._rasa_updates.get(contact_id)
        if pending is not None:
            await asyncio.gather(pending, return_exceptions=True)

    async def _announce(self, turn: Turn) -> list[OutboundMessage]:
        for kind, payload in turn.events:
            await self._publish(kind, payload)
        return turn.replies

    async def _ask_rasa(
        self, contact: Contact, text: str, assessment: Assessment, retry: bool = False
    ) -> list[OutboundMessage] | None:
        await self._rasa_caught_up(contact.id)  # a form interrupted after a safety reply is closed first
        try:
            replies = await self.rasa.send(str(contact.id), text, {"risk": assessment.risk})
        except RasaUnavailable as error:
            log.warning("Rasa unavailable for contact %s: %s", contact.id, error)
            if not retry:
                self._deliver(contact.id, self.texts.render("utter_safe_fallback"))
            return None
        if not replies:
            replies = self.texts.render("utter_default")
        if contact.state == ContactState.BOT:
            now = self.store.contact_by_id(contact.id)
            if now is not None and now.state == ContactState.WAITING_HUMAN:
                # Rasa opened a case this turn (a person was asked for): say what is true about counsellors now.
                replies += self.bridge.notices.status(language=detect_language(text))
        if POSSIBLE_RISK in assessment.signals:
            replies += self.bridge.possible_question(contact, text)
        elif assessment.at_least("concern") and not any("111" in reply.text for reply in replies):
            # A worried child, or a high-risk conversation whose question went to Rasa: 111 is always there.
            adult = detect_speaker(text)
            if adult is not None:  # a teacher writing about a bullied student is not asked whether they are sad
                replies += self.texts.render("utter_safety_concern_checkin_adult", address=adult.address)
            else:
                replies += self.texts.render("utter_safety_concern_checkin", detect_language(text))
        return replies

    def _safe_reply_after_failure(self, message_id: int) -> None:
        """Processing raised: the sweeper retries, but the child hears now that the message arrived, with 111
        (once per message, so a failure that repeats does not repeat the reply)."""
        try:
            contact_id = self.store.first_failure(message_id)
            if contact_id is not None:
                self._deliver(contact_id, self.texts.render("utter_safe_fallback"))
        except Exception:  # noqa: BLE001 - the database itself may be what failed; the sweeper retries
            log.exception("could not send the safe reply for message %s", message_id)

    def _never_silent(self, message_id: int, contact_id: int) -> list[OutboundMessage]:
        """The last guard: a child's message answered by nothing is a defect, unless a person has the
        conversation (or the contact was just deleted). Logged, so tests can prove it never fires."""
        if self.store.message(message_id) is None:
            return []  # delete-my-data took the message with everything else; the confirmation went out
        current = self.store.contact_by_id(contact_id)
        if current is None or current.state == ContactState.HUMAN:
            return []
        log.error("silent turn: message %s got no reply in state %s; sent the safe fallback", message_id,
                  current.state)
        return self.texts.render("utter_safe_fallback")

    def _deliver(self, contact_id: int, replies: list[OutboundMessage]) -> None:
        for reply in replies:
            self.store.queue_outbound(contact_id, reply.sender, reply.text, reply.buttons_as_dicts() or None)

    async def _publish(self, kind: str, payload: dict) -> None:
        if self._notify is None:
            return
        result = self._notify(kind, payload)
        if asyncio.iscoroutine(result):
            await result
