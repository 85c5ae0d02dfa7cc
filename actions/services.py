"""The action server's handles on the project's services, built once on first use (at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bot.config import Settings, load_settings
from bot.handover import Handover
from bot.store import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    handover: Handover


@lru_cache(maxsize=1)
def services() -> Services:
    settings = load_settings()
    store = Store.open(settings.database_url)
    return Services(settings, store, Handover(store, settings))


def contact_id(sender_id: str) -> int | None:
    """The gateway talks to Rasa with the contact's database id as the sender id."""
    return int(sender_id) if sender_id.isdigit() else None
