"""The project's database schema (SQLAlchemy 2). Rasa's tracker store is Rasa's own, not here.

Minimal data: a contact is a channel plus the platform's opaque user id; no names or phone numbers
unless a reporter offers a call-back number in a report.
"""

from __future__ import annotations

from datetime import datetime, timezone
from enum import StrEnum

from sqlalchemy import (
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class ContactState(StrEnum):
    """Who answers the contact: the assistant, the assistant while a case waits for a person, or a person."""

    BOT = "bot"
    WAITING_HUMAN = "waiting_human"  # an open case nobody has claimed yet: the assistant bridges
    HUMAN = "human"  # a counsellor owns the conversation: nothing automated is said


class Base(DeclarativeBase):
    pass


class Contact(Base):
    """One child or adult on one channel. `state` is the handover state owned by the gateway."""

    __tablename__ = "contacts"
    # AUTOINCREMENT on SQLite: ids of deleted rows are never reused, so a web chat polling "after id N" still
    # sees the confirmation of /xoa, and nothing can be mistaken for a deleted contact's.
    __table_args__ = (UniqueConstraint("channel", "external_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    state: Mapped[str] = mapped_column(String(16), default=ContactState.BOT)
    age_band: Mapped[str | None] = mapped_column(String(16))
    consent_contact: Mapped[bool | None] = mapped_column(Boolean)
    consent_share: Mapped[bool | None] = mapped_column(Boolean)

    messages: Mapped[list[Message]] = relationship(back_populates="contact", cascade="all, delete-orphan")


class Message(Base):
    """Inbound and outbound messages: the inbox and the outbox are this one table."""

    __tablename__ = "messages"
    __table_args__ = (
        # Platforms resend webhooks: the platform's message/update id makes a resend a no-op.
        UniqueConstraint("contact_id", "dedupe_key"),
        Index("ix_messages_status", "direction", "status"),
        Index("ix_messages_contact", "contact_id", "id"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    sender: Mapped[str] = mapped_column(String(16))  # child | bot | counsellor | system
    text: Mapped[str] = mapped_column(Text)
    buttons: Mapped[str | None] = mapped_column(Text)  # JSON list of {title, payload}
    dedupe_key: Mapped[str | None] = mapped_column(String(128))
    # inbound: received -> processed | pending (Rasa was down; retried);  outbound: queued -> sent | failed
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    risk: Mapped[str | None] = mapped_column(String(16))
    signals: Mapped[str | None] = mapped_column(Text)  # JSON list
    counsellor_id: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)

    contact: Mapped[Contact] = relationship(back_populates="messages")


class Counsellor(Base):
    __tablename__ = "counsellors"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16), default="counsellor")  # counsellor | supervisor
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Escalation(Base):
    """A case waiting for or handled by a person. At most one open case per contact (partial index)."""

    __tablename__ = "escalations"
    __table_args__ = (
        Index(
            "uq_escalations_one_open_per_contact",
            "contact_id",
            unique=True,
            sqlite_where=text("status != 'resolved'"),
            postgresql_where=text("status != 'resolved'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"))
    risk: Mapped[str] = mapped_column(String(16))  # none | concern | high | imminent
    reason: Mapped[str] = mapped_column(String(32))  # safety | request_human | report | counsellor
    signals: Mapped[str | None] = mapped_column(Text)  # JSON list of the phrases/signals that fired
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | claimed | resolved
    claimed_by: Mapped[int | None] = mapped_column(ForeignKey("counsellors.id"))
    report_id: Mapped[int | None] = mapped_column(ForeignKey("reports.id", ondelete="SET NULL"))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    first_reply_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_notified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Note(Base):
    __tablename__ = "notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    escalation_id: Mapped[int] = mapped_column(ForeignKey("escalations.id", ondelete="CASCADE"))
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Report(Base):
    """An incident report; fields follow Decree 56/2017 Form 01 (see README)."""

    __tablename__ = "reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id", ondelete="SET NULL"))
    reporter_role: Mapped[str | None] = mapped_column(String(32))
    category: Mapped[str | None] = mapped_column(String(32))
    platform: Mapped[str | None] = mapped_column(String(64))
    occurred_when: Mapped[str | None] = mapped_column(String(128))
    ongoing: Mapped[str | None] = mapped_column(String(16))
    child_safe_now: Mapped[str | None] = mapped_column(String(16))
    age_band: Mapped[str | None] = mapped_column(String(16))
    description: Mapped[str | None] = mapped_column(Text)
    consent_contact: Mapped[bool | None] = mapped_column(Boolean)
    consent_share: Mapped[bool | None] = mapped_column(Boolean)
    callback_phone: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default="new")  # new | in_review | referred | closed
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)


class AuditEntry(Base):
    """Who read or changed what: every transcript opened in the console is written here."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ConsoleSession(Base):
    """A signed-in console (bot/console/auth.py). A live one also tells the assistant that a person is on
    duty, so it only says "a counsellor is being called" when one can answer."""

    __tablename__ = "console_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 of the cookie token
    counsellor_id: Mapped[int] = mapped_column(ForeignKey("counsellors.id", ondelete="CASCADE"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Bridge(Base):
    """What the assistant does with a contact between a disclosure and a person (bot/bridge): the safety
    question it is waiting on, a guided exercise in progress, the child's answers and safety plan.
    One row per contact, deleted with the contact (/xoa); the counsellor sees it in the case file."""

    __tablename__ = "bridges"

    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True)
    question: Mapped[str] = mapped_column(String(16), default="")  # the safety question awaiting an answer
    flow: Mapped[str] = mapped_column(String(16), default="")  # safety_plan | grounding | "" (none)
    step: Mapped[int] = mapped_column(Integer, default=0)
    answers: Mapped[str] = mapped_column(Text, default="{}")  # JSON: safety question -> yes | no | unsure
    plan: Mapped[str] = mapped_column(Text, default="{}")  # JSON: safety plan step -> the child's words
    left_queue_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    possible_asked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))  # the gentle question
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow, onupdate=utcnow)
