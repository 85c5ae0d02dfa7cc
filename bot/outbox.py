"""Outbox delivery: queued replies go out through their channel, with retries and back-off."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Mapping

from bot.messages import OutboundMessage
from bot.store import Store
from connectors.base import Channel, DeliveryError

log = logging.getLogger(__name__)


class OutboxWorker:
    def __init__(self, store: Store, channels: Mapping[str, Channel], interval_s: float = 0.2) -> None:
        self.store = store
        self.channels = {name: ch for name, ch in channels.items() if ch.push}
        self.interval_s = interval_s
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        if self.channels:
            self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                await self.deliver_due()
            except Exception:  # noqa: BLE001 - e.g. the database is down: keep trying
                log.exception("outbox delivery round failed")
            await asyncio.sleep(self.interval_s)

    async def deliver_due(self) -> int:
        """Send every due message once; returns how many were sent."""
        sent = 0
        failed: set[int] = set()
        for message, contact in self.store.due_outbound(list(self.channels)):
            if contact.id in failed:
                continue  # keep this contact's replies in order behind the one that failed
            channel = self.channels[contact.channel]
            outbound = OutboundMessage.from_dicts(message.text, _buttons(message.buttons), message.sender)
            try:
                await channel.send(contact.external_id, outbound)
            except DeliveryError as error:
                log.warning("delivery to %s failed: %s", contact.channel, error)
                if error.retry_after_s is None:
                    self.store.mark_retry(message.id, 0, max_attempts=0)
                else:
                    self.store.mark_retry(message.id, error.retry_after_s)
                failed.add(contact.id)
                continue
            self.store.mark_sent(message.id)
            sent += 1
        return sent


def _buttons(raw: str | None) -> list[dict] | None:
    return json.loads(raw) if raw else None
