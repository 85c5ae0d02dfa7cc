"""How fast does a child in danger reach an open counsellor console?

    .venv/bin/python -m benchmarks.console_latency [--runs 20] [--database-url postgresql://.../scratch]

(--database-url: a scratch database; the run adds a "bench" account, contacts and cases to it.)

The gateway runs on a loopback port with a fresh database; a counsellor signs in and keeps the console's
event stream (server-sent events) open, as the queue page does. Each run posts a high-risk message to the
web chat and times it until the case's "escalation" event arrives on the stream. Rasa is not needed for this
path (the safety screen opens the case before Rasa is ever asked), so its address is left dead.

A second figure is for cases opened by another process (the action server's request_human, without
Redis): they reach the stream through the gateway's periodic database re-check.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import re
import secrets
import statistics
import tempfile
import time
from pathlib import Path

import aiohttp
from aiohttp import web

from bot.config import load_settings
from bot.console import accounts
from bot.gateway import STORE, build_app
from bot.handover import Handover
from bot.store import Store

PASSWORD = secrets.token_urlsafe(16)
DISTRESS = "ko muon song nua"


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def sign_in(http: aiohttp.ClientSession, base: str) -> None:
    form = await (await http.get(base + "/console/login")).text()
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    response = await http.post(base + "/console/login", allow_redirects=False,
                               data={"csrf": token, "username": "bench", "password": PASSWORD})
    assert response.status == 303, response.status


async def next_event(stream: aiohttp.ClientResponse, kinds: set[str]) -> tuple[str, dict]:
    kind = None
    while True:
        line = (await stream.content.readline()).decode().rstrip("\n")
        if line.startswith("event: "):
            kind = line.removeprefix("event: ")
        elif line.startswith("data: ") and kind in kinds:
            return kind, json.loads(line.removeprefix("data: "))


async def measure(runs: int, database_url: str) -> tuple[list[float], list[float]]:
    port = free_port()
    settings = load_settings(config_file=Path("/nonexistent"), environ={}, database_url=database_url,
                             rasa_url=f"http://127.0.0.1:{free_port()}", rasa_timeout_s=1,
                             opening_hours="00:00-23:59", opening_days="1-7")
    app = build_app(settings)
    accounts.create(app[STORE], "bench", "Benchmark", "counsellor", PASSWORD)
    runner = web.AppRunner(app, shutdown_timeout=2)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    web_chat, other_process = [], []
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            await sign_in(http, base)
            stream = await http.get(base + "/console/api/events", timeout=aiohttp.ClientTimeout(total=None))
            await next_event(stream, {"hello"})
            for _ in range(runs):
                user = secrets.token_hex(12)
                start = time.perf_counter()
                response = await http.post(base + "/webchat/api/messages", json={"user": user, "text": DISTRESS})
                assert response.status == 202
                await asyncio.wait_for(next_event(stream, {"escalation"}), 10)
                web_chat.append((time.perf_counter() - start) * 1000)
                await asyncio.sleep(0.05)

            # Another process writes the case straight to the database (no Redis relay).
            action_server = Store.open(database_url)
            handover = Handover(action_server, settings)
            for _ in range(max(3, runs // 4)):
                await asyncio.sleep(random.uniform(0, 2))  # not in step with the re-check's period
                contact = action_server.contact("webchat", secrets.token_hex(12))
                start = time.perf_counter()
                await asyncio.to_thread(handover.open_escalation, contact.id, "none", "request_human")
                await asyncio.wait_for(next_event(stream, {"queue"}), 10)
                other_process.append((time.perf_counter() - start) * 1000)
            action_server.close()
            stream.close()
    finally:
        await runner.cleanup()
    return web_chat, other_process


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
    return (f"median {statistics.median(values):.1f} ms, p90 {p90:.1f} ms, "
            f"min {ordered[0]:.1f} ms, max {ordered[-1]:.1f} ms (n={len(values)})")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.console_latency")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--database-url", help="default: a fresh SQLite file in a temporary directory")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/bench.db"
        web_chat, other_process = asyncio.run(measure(args.runs, url))
    print(f"database: {'SQLite (temporary file)' if not args.database_url else args.database_url}")
    print(f"web chat message -> case on the console's live stream: {summary(web_chat)}")
    print(f"case opened by another process -> console (database re-check, no Redis): {summary(other_process)}")


if __name__ == "__main__":
    main()
