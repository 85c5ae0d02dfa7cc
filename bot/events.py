"""In-process publish/subscribe for live views (the counsellor console's event stream)."""

from __future__ import annotations

import asyncio
from typing import Any


class EventHub:
    def __init__(self) -> None:
        self._subscribers: set[asyncio.Queue[tuple[str, dict[str, Any]]]] = set()

    def subscribe(self) -> asyncio.Queue[tuple[str, dict[str, Any]]]:
        queue: asyncio.Queue[tuple[str, dict[str, Any]]] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue) -> None:
        self._subscribers.discard(queue)

    def publish(self, kind: str, payload: dict[str, Any]) -> None:
        for queue in list(self._subscribers):
            if queue.full():
                continue  # a stalled subscriber must not block the pipeline; it re-syncs on reconnect
            queue.put_nowait((kind, payload))
