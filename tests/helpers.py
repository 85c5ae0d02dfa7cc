"""Helpers for tests that drive the gateway over HTTP."""

from __future__ import annotations

import asyncio
import secrets
from contextlib import asynccontextmanager
from typing import AsyncIterator

from aiohttp.test_utils import TestClient, TestServer

from bot.config import Settings
from bot.gateway import PIPELINE, build_app
from bot.store import Store


def new_user() -> str:
    return secrets.token_hex(12)


@asynccontextmanager
async def gateway(settings: Settings, store: Store | None = None) -> AsyncIterator[TestClient]:
    app = build_app(settings, store)
    async with TestClient(TestServer(app)) as client:
        yield client


async def chat(client: TestClient, user: str, text: str, timeout_s: float = 30.0) -> list[dict]:
    """Send one web chat message and return the replies it produced."""
    response = await client.get("/webchat/api/messages", params={"user": user, "after": "0"})
    after = max((m["id"] for m in (await response.json()).get("messages", [])), default=0)
    response = await client.post("/webchat/api/messages", json={"user": user, "text": text})
    assert response.status == 202, await response.text()
    await asyncio.wait_for(client.app[PIPELINE].drained(), timeout_s)
    response = await client.get("/webchat/api/messages", params={"user": user, "after": str(after)})
    body = await response.json()
    return [m for m in body["messages"] if m["from"] != "child"]
