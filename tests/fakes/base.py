"""A fake platform: an aiohttp app on a free loopback port, recording what the gateway sent it."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Callable

import aiohttp
from aiohttp import web


class FakeServer:
    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None
        self.port = 0

    def app(self) -> web.Application:
        raise NotImplementedError

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> FakeServer:
        self._runner = web.AppRunner(self.app())
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    @staticmethod
    async def wait_for(condition: Callable[[], bool], timeout_s: float = 10.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
            await asyncio.sleep(0.02)

    def texts_to(self, user_id: Any) -> list[str]:
        """The texts this fake platform delivered to one user, in order."""
        raise NotImplementedError

    async def wait_sent(self, user_id: Any, count: int, timeout_s: float = 10.0) -> list[str]:
        await self.wait_for(lambda: len(self.texts_to(user_id)) >= count, timeout_s,
                            f"{count} messages to {user_id} (got {self.texts_to(user_id)})")
        return self.texts_to(user_id)

    @staticmethod
    async def post_webhook(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
        """Call the gateway's webhook the way the platform does; the status and the JSON answer."""
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=body, headers={"Content-Type": "application/json", **headers}) as r:
                return r.status, await r.json(content_type=None)


def bot_api_error(code: int, description: str, parameters: dict | None = None) -> web.Response:
    """An error in the Telegram / Zalo Bot API shape."""
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
