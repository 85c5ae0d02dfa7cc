"""The action server's handles on the project's services, built once on first use (at start-up)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from bot.config import Settings, load_settings
from bot.events import RedisRelay
from bot.handover import Handover
from bot.store import Store


@dataclass(frozen=True)
class Services:
    settings: Settings
    store: Store
    handover: Handover
    relay: RedisRelay | None  # tells the gateways' consoles at once when a case opens here

    @classmethod
    def build(cls, settings: Settings, store: Store, relay: RedisRelay | None = None) -> Services:
        return cls(settings, store, Handover(store, settings), relay)

    async def announce_case(self, escalation_id: int, risk: str) -> None:
        if self.relay is not None:
            await self.relay.publish("escalation", {"escalation_id": escalation_id, "risk": risk})


@lru_cache(maxsize=1)
def services() -> Services:
    settings = load_settings()
    store = Store.open(settings.database_url)
    relay = RedisRelay(settings.redis_url) if settings.redis_url else None
    return Services.build(settings, store, relay)


def contact_id(sender_id: str) -> int | None:
    """The gateway talks to Rasa with the contact's database id as the sender id."""
    return int(sender_id) if sender_id.isdigit() else None
