"""Publish/subscribe for live views (the counsellor console's event stream).

`EventHub` fans events out inside one process. The action server is another process: when it opens a
case, `RedisRelay` (optional, `ASSISTANT_REDIS_URL`) carries the event to every gateway at once; without
Redis the console still finds the case by re-reading the database every few seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

log = logging.getLogger(__name__)
CHANNEL = "assistant:events"


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


class RedisRelay:
    """Bridges EventHubs of several processes through one Redis pub/sub channel."""

    def __init__(self, url: str, hub: EventHub | None = None, channel: str = CHANNEL) -> None:
        import redis.asyncio as redis

        self._redis = redis.from_url(url)
        self.hub = hub
        self.channel = channel
        self._task: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def publish(self, kind: str, payload: dict[str, Any]) -> None:
        await self._redis.publish(self.channel, json.dumps({"kind": kind, "payload": payload}))

    async def start(self) -> None:
        """Forward every relayed event into the local hub (gateways call this)."""
        self._task = asyncio.create_task(self._listen())
        await asyncio.wait_for(self._ready.wait(), timeout=5)

    async def _listen(self) -> None:
        pubsub = self._redis.pubsub()
        await pubsub.subscribe(self.channel)
        self._ready.set()
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message" or self.hub is None:
                    continue
                try:
                    event = json.loads(message["data"])
                    self.hub.publish(event["kind"], event["payload"])
                except (ValueError, KeyError, TypeError):
                    log.warning("ignored a malformed relayed event")
        finally:
            await pubsub.aclose()

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self._redis.aclose()
