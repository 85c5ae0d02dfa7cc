"""Handover state and escalations: who answers a child, the assistant or a person.

State per contact: bot -> waiting_human -> human -> bot. The database is the single source of truth,
so the gateway, the action server and the console agree without talking to each other. A claim is a
conditional UPDATE (`... WHERE status = 'open'`): when two counsellors click at once, exactly one row
changes and exactly one wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.exc import IntegrityError

from bot.config import Settings
from bot.safety import RANK
from bot.store import Contact, Escalation, Store, utcnow
from bot.store.models import Bridge, ConsoleSession, ContactState

OPEN_STATES = ("open", "claimed")
_RISK_ORDER = case({"imminent": 3, "high": 2, "concern": 1}, value=Escalation.risk, else_=0)


class Duty(StrEnum):
    """Can a person answer the child now? Decides which handover notice is true."""

    ON_DUTY = "on_duty"  # opening hours and a counsellor signed in (or an on-call rota)
    NOBODY_ONLINE = "nobody_online"  # opening hours, but no console is signed in
    CLOSED = "closed"  # outside the centre's opening hours


@dataclass(frozen=True)
class Opened:
    escalation: Escalation
    created: bool  # False: the contact already had an open case (its risk may have been raised)
    raised: bool  # the case's risk level went up


class Handover:
    def __init__(self, store: Store, settings: Settings) -> None:
        self.store = store
        self.settings = settings

    # -- opening hours ----------------------------------------------------------------------------
    def is_open(self, now: datetime | None = None) -> bool:
        """Are counsellors on duty now (the centre's opening hours, in its time zone)?"""
        local = (now or utcnow()).astimezone(ZoneInfo(self.settings.timezone))
        start, end = self.settings.opening_window()
        return local.isoweekday() in self.settings.opening_weekdays() and start <= local.time() < end

    def duty(self, now: datetime | None = None) -> Duty:
        now = now or utcnow()
        if not self.is_open(now):
            return Duty.CLOSED
        if self.settings.on_call_during_hours or self.counsellors_signed_in(now):
            return Duty.ON_DUTY
        return Duty.NOBODY_ONLINE

    def counsellors_signed_in(self, now: datetime | None = None) -> int:
        """Consoles seen recently (an open console re-checks its session every minute)."""
        since = (now or utcnow()) - timedelta(minutes=self.settings.counsellor_presence_minutes)
        with self.store.session() as s:
            signed_in = func.count(func.distinct(ConsoleSession.counsellor_id))
            return s.scalar(select(signed_in).where(ConsoleSession.last_seen_at >= since)) or 0

    def next_opening(self, now: datetime | None = None) -> datetime:
        """When the centre next opens (local time); `now` itself when it is open."""
        local = (now or utcnow()).astimezone(ZoneInfo(self.settings.timezone))
        start, end = self.settings.opening_window()
        days = self.settings.opening_weekdays()
        for offset in range(8):
            day = (local + timedelta(days=offset)).date()
            if day.isoweekday() not in days:
                continue
            opens = datetime.combine(day, start, tzinfo=local.tzinfo)
            if offset == 0 and local.time() >= end:
                continue
            return max(opens, local)
        return local  # no opening day configured: nothing better to say than "now"

    # -- escalations ----------------------------------------------------------------------------
    def open_escalation(
        self, contact_id: int, risk: str, reason: str, signals: Sequence[str] = (), report_id: int | None = None,
        rejoin: bool = True,
    ) -> Opened:
        """Open a case for the contact, or raise the level of the one already open. A child who had left the
        queue of a case still open is put back in it (`rejoin`), unless the risk is only the context's."""
        with self.store.session() as s:
            existing = s.scalar(
                select(Escalation).where(Escalation.contact_id == contact_id, Escalation.status.in_(OPEN_STATES))
            )
            if existing is not None:
                raised = RANK[risk] > RANK[existing.risk]
                if raised:
                    existing.risk = risk
                merged = sorted(set(json.loads(existing.signals or "[]")) | set(signals))
                existing.signals = json.dumps(merged, ensure_ascii=False)
                if report_id and not existing.report_id:
                    existing.report_id = report_id
                contact = s.get(Contact, contact_id)
                if rejoin and contact is not None and contact.state == ContactState.BOT:
                    contact.state = ContactState.WAITING_HUMAN  # had left the queue; back in it
                return Opened(existing, created=False, raised=raised)
        try:
            with self.store.session() as s:
                escalation = Escalation(
                    contact_id=contact_id, risk=risk, reason=reason, report_id=report_id,
                    signals=json.dumps(sorted(set(signals)), ensure_ascii=False), status="open",
                )
                s.add(escalation)
                contact = s.get(Contact, contact_id)
                if contact is not None and contact.state == ContactState.BOT:
                    contact.state = ContactState.WAITING_HUMAN
                return Opened(escalation, created=True, raised=False)
        except IntegrityError:  # opened at the same moment by another process: use that one
            return self.open_escalation(contact_id, risk, reason, signals, report_id, rejoin)

    def queue(self) -> list[tuple[Escalation, Contact]]:
        """Unclaimed cases, most severe first, then longest waiting."""
        with self.store.session() as s:
            rows = s.execute(
                select(Escalation, Contact)
                .join(Contact, Escalation.contact_id == Contact.id)
                .where(Escalation.status == "open")
                .order_by(_RISK_ORDER.desc(), Escalation.opened_at, Escalation.id)
            ).all()
            return [(e, c) for e, c in rows]

    def cases(self, statuses: Sequence[str] = OPEN_STATES) -> list[tuple[Escalation, Contact]]:
        with self.store.session() as s:
            rows = s.execute(
                select(Escalation, Contact)
                .join(Contact, Escalation.contact_id == Contact.id)
                .where(Escalation.status.in_(list(statuses)))
                .order_by(_RISK_ORDER.desc(), Escalation.opened_at, Escalation.id)
            ).all()
            return [(e, c) for e, c in rows]

    def escalation(self, escalation_id: int) -> Escalation | None:
        with self.store.session() as s:
            return s.get(Escalation, escalation_id)

    def open_case_for(self, contact_id: int) -> Escalation | None:
        with self.store.session() as s:
            return s.scalar(
                select(Escalation).where(Escalation.contact_id == contact_id, Escalation.status.in_(OPEN_STATES))
            )

    def history_for(self, contact_id: int) -> list[Escalation]:
        with self.store.session() as s:
            return list(
                s.scalars(select(Escalation).where(Escalation.contact_id == contact_id).order_by(Escalation.id))
            )

    def context_minutes(self, contact_id: int, limit: float) -> float:
        """How far back (minutes) earlier turns colour the safety screen's reading: at most `limit`, and
        never before a counsellor last handed the conversation back (the person has judged it since)."""
        with self.store.session() as s:
            handed_back = s.scalar(select(func.max(Escalation.resolved_at)).where(Escalation.contact_id == contact_id))
        if handed_back is None:
            return limit
        handed_back = handed_back if handed_back.tzinfo else handed_back.replace(tzinfo=utcnow().tzinfo)
        return max(0.0, min(limit, (utcnow() - handed_back).total_seconds() / 60))

    def leave_queue(self, contact_id: int) -> Escalation | None:
        """The child no longer wants to wait. A case at concern or below closes; a high or imminent one stays
        open for a counsellor to follow up (the child was told so), but the assistant answers meanwhile.
        Returns the case as it now is, or None when nothing was waiting."""
        with self.store.session() as s:
            case = s.scalar(
                select(Escalation).where(Escalation.contact_id == contact_id, Escalation.status == "open")
            )
            if case is None:
                return None
            if RANK[case.risk] < RANK["high"]:
                case.status = "resolved"
                case.resolved_at = utcnow()
            s.execute(update(Contact).where(Contact.id == contact_id).values(state=ContactState.BOT))
            return case

    def claim(self, escalation_id: int, counsellor_id: int) -> bool:
        """Claim an open case; True for exactly one of any number of concurrent callers."""
        with self.store.session() as s:
            result = s.execute(
                update(Escalation)
                .where(Escalation.id == escalation_id, Escalation.status == "open")
                .values(status="claimed", claimed_by=counsellor_id, claimed_at=utcnow())
            )
            if result.rowcount != 1:
                return False
            contact_id = s.scalar(select(Escalation.contact_id).where(Escalation.id == escalation_id))
            s.execute(update(Contact).where(Contact.id == contact_id).values(state=ContactState.HUMAN))
            # The person takes it from here: no safety question or exercise of the assistant's is pending.
            s.execute(update(Bridge).where(Bridge.contact_id == contact_id).values(question="", flow="", step=0))
            return True

    def take_next(self, counsellor_id: int) -> Escalation | None:
        """'Help the next child': claim the most urgent open case."""
        for escalation, _contact in self.queue():
            if self.claim(escalation.id, counsellor_id):
                return self.escalation(escalation.id)
        return None

    def record_first_reply(self, escalation_id: int) -> None:
        with self.store.session() as s:
            s.execute(
                update(Escalation)
                .where(Escalation.id == escalation_id, Escalation.first_reply_at.is_(None))
                .values(first_reply_at=utcnow())
            )

    def resolve(self, escalation_id: int) -> int | None:
        """Close the case and give the conversation back to the assistant; returns the contact id."""
        with self.store.session() as s:
            escalation = s.get(Escalation, escalation_id)
            if escalation is None or escalation.status == "resolved":
                return None
            escalation.status = "resolved"
            escalation.resolved_at = utcnow()
            s.execute(update(Contact).where(Contact.id == escalation.contact_id).values(state=ContactState.BOT))
            return escalation.contact_id

    def due_for_renotify(self, minutes: int) -> list[Escalation]:
        """Unclaimed high/imminent cases whose last notification is older than `minutes`."""
        now = utcnow()
        due = []
        for escalation, _contact in self.queue():
            if RANK[escalation.risk] < RANK["high"]:
                continue
            last = escalation.last_notified_at or escalation.opened_at
            last = last.replace(tzinfo=now.tzinfo) if last.tzinfo is None else last
            if (now - last).total_seconds() >= minutes * 60:
                due.append(escalation)
        return due

    def mark_notified(self, escalation_id: int, due_after_minutes: int | None = None) -> bool:
        """Record a notification. With `due_after_minutes`, only while the case is still unclaimed and due:
        of several gateways re-notifying at once, exactly one gets True."""
        now = utcnow()
        query = update(Escalation).where(Escalation.id == escalation_id)
        if due_after_minutes is not None:
            cutoff = now - timedelta(minutes=due_after_minutes)
            query = query.where(
                Escalation.status == "open",
                or_(Escalation.last_notified_at <= cutoff,
                    and_(Escalation.last_notified_at.is_(None), Escalation.opened_at <= cutoff)),
            )
        with self.store.session() as s:
            return s.execute(query.values(last_notified_at=now)).rowcount == 1
