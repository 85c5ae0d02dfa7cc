"""Persistence: the inbox/outbox, contacts, escalations, reports, counsellors and the audit log.

One `Store` wraps a SQLAlchemy 2 engine (SQLite by default, PostgreSQL in production). Methods are
small and synchronous: each is one short transaction, fast enough to call from the event loop.
"""

from __future__ import annotations

import json
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterator, Sequence, overload

from sqlalchemy import create_engine, delete, event, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from bot.store.models import (
    AuditEntry,
    Base,
    Bridge,
    Contact,
    ContactState,
    Counsellor,
    Escalation,
    Message,
    Note,
    Report,
    utcnow,
)

__all__ = [
    "AuditEntry",
    "Bridge",
    "Contact",
    "ContactState",
    "Counsellor",
    "Escalation",
    "Message",
    "Note",
    "Report",
    "Store",
    "aware",
    "utcnow",
]


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # noqa: ANN001 - DB-API types
    cursor = dbapi_connection.cursor()
    # WAL lets the gateway and the action server (two processes) share the file; foreign keys make
    # delete-my-data cascade.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite:///"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"check_same_thread": False})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_pre_ping=True)


class Store:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def open(cls, url: str) -> Store:
        store = cls(make_engine(url))
        Base.metadata.create_all(store.engine)
        return store

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self._sessions() as session, session.begin():
            yield session

    # -- contacts -----------------------------------------------------------------------------
    def contact(self, channel: str, external_id: str) -> Contact:
        """The contact for this platform user, created on first contact."""
        with self.session() as s:
            found = s.scalar(select(Contact).where(Contact.channel == channel, Contact.external_id == external_id))
            if found:
                found.last_seen_at = utcnow()
                return found
        try:
            with self.session() as s:
                contact = Contact(channel=channel, external_id=external_id)
                s.add(contact)
                return contact
        except IntegrityError:  # created concurrently by another request
            with self.session() as s:
                return s.scalars(
                    select(Contact).where(Contact.channel == channel, Contact.external_id == external_id)
                ).one()

    def contact_by_id(self, contact_id: int) -> Contact | None:
        with self.session() as s:
            return s.get(Contact, contact_id)

    def find_contact(self, channel: str, external_id: str) -> Contact | None:
        with self.session() as s:
            return s.scalar(select(Contact).where(Contact.channel == channel, Contact.external_id == external_id))

    def set_state(self, contact_id: int, state: str) -> None:
        with self.session() as s:
            s.execute(update(Contact).where(Contact.id == contact_id).values(state=state))

    def delete_contact(self, contact_id: int, actor: str) -> None:
        """Delete-my-data: the contact, its messages, cases and notes; reports lose the link."""
        with self.session() as s:
            s.execute(delete(Contact).where(Contact.id == contact_id))
            s.add(AuditEntry(actor=actor, action="delete_contact_data", target=f"contact:{contact_id}"))

    def purge_older_than(self, days: int) -> int:
        """Retention: delete messages older than `days`; returns how many went."""
        cutoff = utcnow() - timedelta(days=days)
        with self.session() as s:
            result = s.execute(delete(Message).where(Message.created_at < cutoff))
            return result.rowcount or 0

    # -- inbox ----------------------------------------------------------------------------------
    def record_inbound(self, contact_id: int, text: str, dedupe_key: str | None) -> Message | None:
        """Store an inbound message; None when the platform already delivered it (a resend)."""
        try:
            with self.session() as s:
                message = Message(
                    contact_id=contact_id, direction="in", sender="child", text=text,
                    dedupe_key=dedupe_key, status="received",
                )
                s.add(message)
                return message
        except IntegrityError:
            return None

    def message(self, message_id: int) -> Message | None:
        with self.session() as s:
            return s.get(Message, message_id)

    def set_inbound_result(
        self, message_id: int, status: str, risk: str | None = None, signals: Sequence[str] | None = None
    ) -> None:
        values: dict[str, object] = {"status": status}
        if risk is not None:
            values["risk"] = risk
        if signals is not None:
            values["signals"] = json.dumps(list(signals), ensure_ascii=False)
        with self.session() as s:
            s.execute(update(Message).where(Message.id == message_id).values(**values))

    def recent_risks(self, contact_id: int, before_id: int, limit: int = 3, within_minutes: int = 60) -> list[str]:
        """Risk levels of the contact's previous inbound turns, oldest first."""
        since = utcnow() - timedelta(minutes=within_minutes)
        with self.session() as s:
            rows = s.scalars(
                select(Message.risk)
                .where(
                    Message.contact_id == contact_id, Message.direction == "in", Message.id < before_id,
                    Message.risk.is_not(None), Message.created_at >= since,
                )
                .order_by(Message.id.desc())
                .limit(limit)
            ).all()
        return list(reversed(rows))

    def first_failure(self, message_id: int) -> int | None:
        """Count a failed processing attempt of an inbound message; its contact id on the first failure of a
        contact a person does not own, else None."""
        with self.session() as s:
            message = s.get(Message, message_id)
            if message is None or message.direction != "in" or message.status not in ("received", "pending"):
                return None
            message.attempts += 1
            if message.attempts != 1:
                return None
            contact = s.get(Contact, message.contact_id)
            return None if contact is None or contact.state == ContactState.HUMAN else contact.id

    def unprocessed_inbound(self, limit: int = 100) -> list[int]:
        """Inbound messages not yet answered (after a crash, or waiting for Rasa to come back)."""
        with self.session() as s:
            return list(
                s.scalars(
                    select(Message.id)
                    .where(Message.direction == "in", Message.status.in_(("received", "pending")))
                    .order_by(Message.id)
                    .limit(limit)
                )
            )

    # -- outbox ---------------------------------------------------------------------------------
    def queue_outbound(
        self, contact_id: int, sender: str, text: str, buttons: list[dict] | None = None,
        counsellor_id: int | None = None,
    ) -> Message:
        with self.session() as s:
            message = Message(
                contact_id=contact_id, direction="out", sender=sender, text=text,
                buttons=json.dumps(buttons, ensure_ascii=False) if buttons else None,
                status="queued", next_attempt_at=utcnow(), counsellor_id=counsellor_id,
            )
            s.add(message)
            return message

    def due_outbound(self, channels: Sequence[str], limit: int = 200) -> list[tuple[Message, Contact]]:
        """Queued replies that may go now, oldest first. A contact whose oldest queued reply is waiting
        for a retry gets nothing newer either: replies never overtake each other."""
        now = utcnow().replace(tzinfo=None)
        with self.session() as s:
            rows = s.execute(
                select(Message, Contact)
                .join(Contact, Message.contact_id == Contact.id)
                .where(Message.direction == "out", Message.status == "queued", Contact.channel.in_(list(channels)))
                .order_by(Message.id)
                .limit(limit)
            ).all()
        due, blocked = [], set()
        for message, contact in rows:
            at = message.next_attempt_at
            if contact.id in blocked or (at is not None and as_naive_utc(at) > now):
                blocked.add(contact.id)
                continue
            due.append((message, contact))
        return due

    def mark_sent(self, message_id: int) -> None:
        with self.session() as s:
            s.execute(update(Message).where(Message.id == message_id).values(status="sent"))

    def mark_retry(self, message_id: int, delay_s: float, max_attempts: int = 8) -> None:
        with self.session() as s:
            message = s.get(Message, message_id)
            if message is None:
                return
            message.attempts += 1
            if message.attempts >= max_attempts:
                message.status = "failed"
            else:
                message.next_attempt_at = utcnow() + timedelta(seconds=delay_s)

    def transcript(self, contact_id: int, after_id: int = 0, limit: int = 500) -> list[Message]:
        with self.session() as s:
            return list(
                s.scalars(
                    select(Message)
                    .where(Message.contact_id == contact_id, Message.id > after_id)
                    .order_by(Message.id)
                    .limit(limit)
                )
            )

    # -- bridging mode (bot/bridge) --------------------------------------------------------------
    def bridge(self, contact_id: int) -> Bridge:
        """The contact's bridging state; a fresh, unsaved one when there is none yet."""
        with self.session() as s:
            found = s.get(Bridge, contact_id)
        return found if found is not None else Bridge(contact_id=contact_id, question="", flow="", step=0,
                                                        answers="{}", plan="{}")

    def save_bridge(self, contact_id: int, **values: object) -> None:
        with self.session() as s:
            found = s.get(Bridge, contact_id)
            if found is None:
                s.add(Bridge(contact_id=contact_id, **values))
            else:
                for key, value in values.items():
                    setattr(found, key, value)

    # -- audit ----------------------------------------------------------------------------------
    def audit(self, actor: str, action: str, target: str) -> None:
        with self.session() as s:
            s.add(AuditEntry(actor=actor, action=action, target=target))

    def audit_entries(self, limit: int = 200) -> list[AuditEntry]:
        with self.session() as s:
            return list(s.scalars(select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)))


@overload
def aware(value: datetime) -> datetime: ...
@overload
def aware(value: None) -> None: ...
def aware(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def as_naive_utc(value: datetime) -> datetime:
    """SQLite returns naive datetimes; compare everything as naive UTC."""
    return value.replace(tzinfo=None) if value.tzinfo else value
