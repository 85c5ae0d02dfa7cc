"""The gateway served on a known loopback port, so fake platforms can call its webhooks."""

from __future__ import annotations

import asyncio
import dataclasses
from contextlib import asynccontextmanager
from typing import AsyncIterator

from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.gateway import PIPELINE, STORE, build_app
from bot.store import Message, Store
from tests.conftest import free_port


def on_free_port(settings: Settings) -> Settings:
    return dataclasses.replace(settings, host="127.0.0.1", port=free_port())


def without_rasa(settings: Settings) -> Settings:
    """Rasa on a port where nothing listens: replies come from the gateway itself (safety, commands)."""
    return dataclasses.replace(settings, rasa_url=f"http://127.0.0.1:{free_port()}", rasa_timeout_s=2)


def webhook_url(settings: Settings, path: str) -> str:
    return f"http://{settings.host}:{settings.port}{path}"


@asynccontextmanager
async def served_gateway(settings: Settings, store: Store | None = None) -> AsyncIterator[TestClient]:
    app = build_app(settings, store)
    async with TestClient(TestServer(app, host=settings.host, port=settings.port)) as client:
        yield client


def outbound(client: TestClient, channel: str, user_id: str) -> list[Message]:
    contact = client.app[STORE].find_contact(channel, user_id)
    if contact is None:
        return []
    return [m for m in client.app[STORE].transcript(contact.id) if m.direction == "out"]


def inbound(client: TestClient, channel: str, user_id: str) -> list[Message]:
    contact = client.app[STORE].find_contact(channel, user_id)
    if contact is None:
        return []
    return [m for m in client.app[STORE].transcript(contact.id) if m.direction == "in"]


async def settled(client: TestClient, channel: str, user_id: str, timeout_s: float = 30.0) -> list[Message]:
    """Wait until the pipeline answered and the outbox worker pushed every reply; the replies."""
    await asyncio.wait_for(client.app[PIPELINE].drained(), timeout_s)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while any(m.status == "queued" for m in outbound(client, channel, user_id)):
        if loop.time() > deadline:
            raise AssertionError(f"replies to {channel}:{user_id} still queued after {timeout_s} s")
        await asyncio.sleep(0.05)
    return outbound(client, channel, user_id)
