"""Live events: in-process fan-out, and the Redis relay between processes (real Redis)."""

from __future__ import annotations

import asyncio

from bot.events import EventHub, RedisRelay
from tests.conftest import REDIS_URL, service_or_skip


async def test_hub_fans_out_to_every_subscriber() -> None:
    hub = EventHub()
    first, second = hub.subscribe(), hub.subscribe()
    hub.publish("escalation", {"id": 1})
    assert first.get_nowait() == ("escalation", {"id": 1}) == second.get_nowait()
    hub.unsubscribe(first)
    hub.publish("message", {"id": 2})
    assert first.empty() and second.get_nowait() == ("message", {"id": 2})


async def test_redis_relay_carries_events_between_hubs() -> None:
    service_or_skip("Redis", "127.0.0.1", 6379)
    channel = "assistant:test:" + str(id(object()))
    console_hub = EventHub()
    listener = RedisRelay(REDIS_URL, console_hub, channel=channel)
    sender = RedisRelay(REDIS_URL, channel=channel)  # e.g. the action server: publishes only
    await listener.start()
    queue = console_hub.subscribe()
    try:
        await sender.publish("escalation", {"escalation_id": 7, "risk": "high"})
        assert await asyncio.wait_for(queue.get(), 5) == ("escalation", {"escalation_id": 7, "risk": "high"})
        await listener._redis.publish(channel, b"not json")  # a malformed event is dropped, not fatal
        await sender.publish("message", {"message_id": 8})
        assert await asyncio.wait_for(queue.get(), 5) == ("message", {"message_id": 8})
    finally:
        await listener.close()
        await sender.close()
