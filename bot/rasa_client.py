"""A small client for the Rasa server: the REST channel for replies, the HTTP API for tracker events."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from bot.messages import Button, OutboundMessage


class RasaUnavailable(Exception):
    """Rasa did not answer (down, starting, timed out, or an error status)."""


class RasaClient:
    def __init__(self, base_url: str, timeout_s: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()

    async def _request(self, method: str, path: str, json: Any = None) -> Any:
        session = await self._http()
        try:
            async with session.request(method, self.base_url + path, json=json) as response:
                if response.status >= 400:
                    raise RasaUnavailable(f"{method} {path}: HTTP {response.status}")
                return await response.json(content_type=None)
        except (aiohttp.ClientError, asyncio.TimeoutError, ValueError) as error:
            raise RasaUnavailable(f"{method} {path}: {error!r}") from error

    async def is_ready(self) -> bool:
        try:
            status = await self._request("GET", "/status")
        except RasaUnavailable:
            return False
        return bool(status.get("model_file"))

    async def send(self, sender: str, text: str, metadata: dict[str, Any] | None = None) -> list[OutboundMessage]:
        """Ask Rasa for its replies to one message."""
        body = {"sender": sender, "message": text, "metadata": metadata or {}}
        replies = await self._request("POST", "/webhooks/rest/webhook", json=body)
        messages = []
        for reply in replies or []:
            buttons = tuple(Button(b.get("title", ""), b.get("payload", "")) for b in reply.get("buttons") or ())
            # A blank line separates messages (as in Rasa's own channels); buttons go with the last one.
            parts = [p.strip() for p in (reply.get("text") or "").split("\n\n") if p.strip()]
            messages.extend(
                OutboundMessage(part, buttons if i == len(parts) - 1 else ()) for i, part in enumerate(parts)
            )
        return messages

    async def append_events(self, sender: str, events: list[dict[str, Any]]) -> None:
        await self._request("POST", f"/conversations/{sender}/tracker/events", json=events)

    async def interrupt(self, sender: str) -> None:
        """Stop any active form: a safety reply or a human has taken over the conversation."""
        await self.append_events(
            sender,
            [
                {"event": "active_loop", "name": None},
                {"event": "slot", "name": "requested_slot", "value": None},
            ],
        )
