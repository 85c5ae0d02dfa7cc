"""Console sign-in: argon2 password hashes, server-side sessions, CSRF tokens, a login throttle.

A session is a row in `console_sessions`; the browser holds only a random token (HttpOnly, SameSite=Strict
cookie) whose SHA-256 is the row's key, so a copy of the database does not let anyone sign in. Every
request re-reads the counsellor, so disabling an account ends its sessions at once.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from collections import defaultdict, deque
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, select, update

from bot.store import Counsellor, Store, utcnow
from bot.store.models import ConsoleSession

ROLES = ("counsellor", "supervisor")
SESSION_IDLE = timedelta(hours=2)
SESSION_MAX_AGE = timedelta(hours=12)
TOUCH_EVERY = timedelta(minutes=1)  # last_seen_at is written at most this often

hasher = PasswordHasher()
# Verified when the username is unknown, so a wrong name takes as long as a wrong password.
_DUMMY_HASH = hasher.hash(secrets.token_hex(16))


@dataclass(frozen=True)
class SessionUser:
    """The signed-in counsellor, as every console request sees them."""

    counsellor_id: int
    username: str
    display_name: str
    role: str
    csrf_token: str

    @property
    def is_supervisor(self) -> bool:
        return self.role == "supervisor"

    @property
    def actor(self) -> str:
        """How the audit log names this person."""
        return f"counsellor:{self.username}"


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    """SQLite gives naive datetimes back; they are UTC."""
    return value if value.tzinfo else value.replace(tzinfo=utcnow().tzinfo)


def tokens_match(expected: str, given: str | None) -> bool:
    return bool(given) and secrets.compare_digest(expected.encode(), given.encode())


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def authenticate(store: Store, username: str, password: str) -> Counsellor | None:
    """The active counsellor with this username and password, else None (slow on purpose: argon2)."""
    with store.session() as s:
        counsellor = s.scalar(select(Counsellor).where(Counsellor.username == username))
    if counsellor is None or not counsellor.active:
        verify_password(_DUMMY_HASH, password)
        return None
    if not verify_password(counsellor.password_hash, password):
        return None
    if hasher.check_needs_rehash(counsellor.password_hash):  # parameters were raised since it was set
        with store.session() as s:
            s.execute(update(Counsellor).where(Counsellor.id == counsellor.id)
                      .values(password_hash=hasher.hash(password)))
    return counsellor


class Sessions:
    def __init__(self, store: Store) -> None:
        self.store = store

    def start(self, counsellor_id: int) -> str:
        """A new session; returns the token for the cookie (only its digest is stored)."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        with self.store.session() as s:
            s.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < now - SESSION_IDLE))
            s.add(ConsoleSession(id=_digest(token), counsellor_id=counsellor_id,
                                 csrf_token=secrets.token_urlsafe(32), created_at=now, last_seen_at=now))
        return token

    def user(self, token: str | None) -> SessionUser | None:
        """The counsellor behind a cookie token, if the session is live and the account active."""
        if not token:
            return None
        key, now = _digest(token), utcnow()
        with self.store.session() as s:
            row = s.execute(
                select(ConsoleSession, Counsellor)
                .join(Counsellor, ConsoleSession.counsellor_id == Counsellor.id)
                .where(ConsoleSession.id == key)
            ).first()
            if row is None:
                return None
            session, counsellor = row
            expired = (now - _aware(session.last_seen_at) > SESSION_IDLE
                       or now - _aware(session.created_at) > SESSION_MAX_AGE)
            if expired or not counsellor.active:
                s.delete(session)
                return None
            if now - _aware(session.last_seen_at) > TOUCH_EVERY:
                session.last_seen_at = now
            return SessionUser(counsellor.id, counsellor.username, counsellor.display_name, counsellor.role,
                               session.csrf_token)

    def end(self, token: str | None) -> None:
        if token:
            with self.store.session() as s:
                s.execute(delete(ConsoleSession).where(ConsoleSession.id == _digest(token)))

    def end_all(self, counsellor_id: int) -> int:
        with self.store.session() as s:
            return s.execute(delete(ConsoleSession).where(ConsoleSession.counsellor_id == counsellor_id)).rowcount


class LoginThrottle:
    """At most `limit` failed sign-ins per (address, username) in `window_s`; in memory, per process."""

    def __init__(self, limit: int = 5, window_s: float = 900.0) -> None:
        self.limit = limit
        self.window_s = window_s
        self._failures: defaultdict[tuple[str, str], deque[float]] = defaultdict(deque)

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        failures, cutoff = self._failures[key], time.monotonic() - self.window_s
        while failures and failures[0] < cutoff:
            failures.popleft()
        if not failures:
            del self._failures[key]
        return failures

    def blocked(self, address: str, username: str) -> bool:
        return len(self._recent((address, username))) >= self.limit

    def failed(self, address: str, username: str) -> None:
        self._failures[(address, username)].append(time.monotonic())

    def succeeded(self, address: str, username: str) -> None:
        self._failures.pop((address, username), None)
