"""The console's background tasks, run by the gateway.

QueueWatcher: the action server is another process and writes cases straight to the database; without
  Redis its events never reach this gateway's hub. Re-reading the open cases every few seconds (one query
  per gateway, not per browser) turns any change into a "queue" event for the live views.
Renotifier: an unclaimed high or imminent case is announced again every `escalation_renotify_minutes`
  (live event, optional message to the counsellors' Telegram group), and, while a counsellor is on duty,
  the waiting child is told again that someone is coming and that 111 answers at any hour.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from bot.events import EventHub
from bot.handover import Duty, Handover
from bot.store import Escalation, Store
from bot.texts import Texts

log = logging.getLogger(__name__)

Alert = Callable[[Escalation, int], Awaitable[None]]
Notify = Callable[[str, dict], Awaitable[None] | None]
REMINDER = "utter_handover_reminder"


class QueueWatcher:
    def __init__(self, handover: Handover, hub: EventHub, interval_s: float = 2.0) -> None:
        self.handover = handover
        self.hub = hub
        self.interval_s = interval_s

    def fingerprint(self) -> tuple[tuple[int, str, str], ...]:
        return tuple((e.id, e.status, e.risk) for e, _contact in self.handover.cases())

    async def run(self) -> None:
        last = None
        while True:
            try:
                current = self.fingerprint()
                if last is not None and current != last:
                    self.hub.publish("queue", {"open_cases": len(current)})
                last = current
            except Exception:  # noqa: BLE001 - the database may be away for a moment; try again
                log.exception("queue re-check failed")
            await asyncio.sleep(self.interval_s)


class Renotifier:
    def __init__(
        self, handover: Handover, store: Store, texts: Texts, notify: Notify, minutes: int,
        alert: Alert | None = None,
    ) -> None:
        self.handover = handover
        self.store = store
        self.texts = texts
        self.notify = notify
        self.minutes = minutes
        self.alert = alert

    async def run_once(self) -> list[int]:
        """Re-announce every case now due; returns their ids."""
        announced = []
        for case in self.handover.due_for_renotify(self.minutes):
            # With several gateways, only the one whose conditional update succeeds announces it.
            if not self.handover.mark_notified(case.id, due_after_minutes=self.minutes):
                continue
            if self.handover.duty() is Duty.ON_DUTY:  # otherwise "someone is coming" would not be true
                for message in self.texts.render(REMINDER):
                    self.store.queue_outbound(case.contact_id, "system", message.text)
            result = self.notify("renotify", {"escalation_id": case.id, "risk": case.risk})
            if asyncio.iscoroutine(result):
                await result
            if self.alert is not None:
                try:
                    await self.alert(case, self.minutes)
                except Exception:  # noqa: BLE001 - the group message is a convenience; the console has it
                    log.exception("could not alert the counsellors' group about case %s", case.id)
            announced.append(case.id)
        return announced

    async def run(self, interval_s: float) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:  # noqa: BLE001 - keep re-notifying after a database hiccup
                log.exception("re-notification round failed")
            await asyncio.sleep(interval_s)
