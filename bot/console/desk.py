"""What a counsellor does to a case, and what the child and Rasa see as a result.

claim:   the case is the counsellor's (a race-safe UPDATE), any Rasa form is stopped, the child is told
         who joined (utter_handover_joined).
reply:   the counsellor's message goes to the outbox (sender "counsellor"); the first one is timed.
resolve: Rasa's form state is cleared again, the case closes, the contact goes back to the assistant,
         and the child is told (utter_handover_left). The next message is answered by Rasa as usual.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from sqlalchemy import select

from bot.console.auth import SessionUser
from bot.handover import Handover
from bot.rasa_client import RasaClient, RasaUnavailable
from bot.store import Escalation, Note, Store
from bot.texts import Texts

log = logging.getLogger(__name__)

Notify = Callable[[str, dict], Awaitable[None] | None]
MAX_NOTE_CHARS = 4000


class DeskError(Exception):
    """A refused action; `status` is the HTTP status the console answers with."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class Desk:
    def __init__(
        self, store: Store, handover: Handover, rasa: RasaClient, texts: Texts, notify: Notify, max_chars: int
    ) -> None:
        self.store = store
        self.handover = handover
        self.rasa = rasa
        self.texts = texts
        self._notify = notify
        self.max_chars = max_chars

    # -- who may do what --------------------------------------------------------------------------
    @staticmethod
    def can_view(case: Escalation, user: SessionUser) -> bool:
        """Waiting cases are open to every counsellor (to triage); taken ones to their owner and supervisors."""
        return user.is_supervisor or case.status == "open" or case.claimed_by == user.counsellor_id

    @staticmethod
    def owns(case: Escalation, user: SessionUser) -> bool:
        return case.status == "claimed" and case.claimed_by == user.counsellor_id

    def case(self, escalation_id: int, user: SessionUser) -> Escalation:
        case = self.handover.escalation(escalation_id)
        if case is None:
            raise DeskError(404, "no such case")
        if not self.can_view(case, user):
            raise DeskError(403, "this case is handled by another counsellor")
        return case

    # -- actions --------------------------------------------------------------------------------
    async def claim(self, escalation_id: int, user: SessionUser) -> Escalation:
        if self.handover.escalation(escalation_id) is None:
            raise DeskError(404, "no such case")
        if not self.handover.claim(escalation_id, user.counsellor_id):
            raise DeskError(409, "the case was already taken or closed")
        return await self._joined(escalation_id, user)

    async def take_next(self, user: SessionUser) -> Escalation | None:
        """'Nhận ca tiếp theo': the most urgent, longest-waiting case, if any is left."""
        case = self.handover.take_next(user.counsellor_id)
        return None if case is None else await self._joined(case.id, user)

    async def _joined(self, escalation_id: int, user: SessionUser) -> Escalation:
        case = self.handover.escalation(escalation_id)
        await self._interrupt_rasa(case.contact_id)
        self._say(case.contact_id, "utter_handover_joined", counsellor_name=user.display_name)
        self.store.audit(user.actor, "claim_case", f"escalation:{case.id}")
        await self._publish("claimed", {"escalation_id": case.id, "contact_id": case.contact_id,
                                        "counsellor_id": user.counsellor_id})
        return case

    async def reply(self, escalation_id: int, user: SessionUser, text: str) -> int:
        text = text.strip()
        if not text:
            raise DeskError(400, "the reply is empty")
        if len(text) > self.max_chars:
            raise DeskError(413, f"the reply is longer than {self.max_chars} characters")
        case = self.case(escalation_id, user)
        if not self.owns(case, user):
            raise DeskError(403, "only the counsellor who took the case can reply")
        message = self.store.queue_outbound(case.contact_id, "counsellor", text, counsellor_id=user.counsellor_id)
        self.handover.record_first_reply(case.id)
        await self._publish("reply", {"escalation_id": case.id, "contact_id": case.contact_id,
                                      "message_id": message.id})
        return message.id

    def add_note(self, escalation_id: int, user: SessionUser, text: str) -> Note:
        text = text.strip()
        if not text:
            raise DeskError(400, "the note is empty")
        if len(text) > MAX_NOTE_CHARS:
            raise DeskError(413, f"the note is longer than {MAX_NOTE_CHARS} characters")
        case = self.case(escalation_id, user)
        if not (self.owns(case, user) or user.is_supervisor):
            raise DeskError(403, "only the counsellor who took the case or a supervisor can add notes")
        with self.store.session() as s:
            note = Note(escalation_id=case.id, counsellor_id=user.counsellor_id, text=text)
            s.add(note)
        return note

    async def resolve(self, escalation_id: int, user: SessionUser) -> None:
        """'Trả lại cho trợ lý': close the case and give the conversation back to the assistant."""
        case = self.case(escalation_id, user)
        if not (self.owns(case, user) or (user.is_supervisor and case.status == "claimed")):
            raise DeskError(409 if case.status != "claimed" else 403, "only a taken case can be handed back")
        # Rasa first: once the state is "bot" again, the child's next message goes straight to it.
        await self._interrupt_rasa(case.contact_id)
        if self.handover.resolve(case.id) is None:
            raise DeskError(409, "the case was already closed")
        self._say(case.contact_id, "utter_handover_left")
        self.store.audit(user.actor, "resolve_case", f"escalation:{case.id}")
        await self._publish("resolved", {"escalation_id": case.id, "contact_id": case.contact_id})

    def notes(self, contact_id: int) -> list[Note]:
        with self.store.session() as s:
            return list(
                s.scalars(
                    select(Note).join(Escalation, Note.escalation_id == Escalation.id)
                    .where(Escalation.contact_id == contact_id).order_by(Note.id)
                )
            )

    # -- effects --------------------------------------------------------------------------------
    def _say(self, contact_id: int, response: str, **values: str) -> None:
        for message in self.texts.render(response, **values):
            self.store.queue_outbound(contact_id, "system", message.text, message.buttons_as_dicts() or None)

    async def _interrupt_rasa(self, contact_id: int) -> None:
        """Stop any form Rasa was running, so it neither resumes it later nor answers meanwhile."""
        try:
            await self.rasa.interrupt(str(contact_id))
        except RasaUnavailable as error:
            # Rasa is down: there is nothing running to stop; messages wait for it in the inbox.
            log.warning("could not reset Rasa's conversation %s: %s", contact_id, error)

    async def _publish(self, kind: str, payload: dict) -> None:
        result = self._notify(kind, payload)
        if asyncio.iscoroutine(result):
            await result
