"""The gateway process: every channel's webhooks, the web chat, the console and the workers.

`build_app(settings)` wires the parts together; `python -m bot.gateway` serves it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging

from aiohttp import web

from bot.config import Settings, load_settings
from bot.console import setup_console
from bot.events import EventHub, RedisRelay
from bot.handover import Handover
from bot.messages import InboundMessage
from bot.outbox import OutboxWorker
from bot.pipeline import Pipeline
from bot.rasa_client import RasaClient
from bot.safety import Screen
from bot.store import Store
from bot.texts import Texts
from connectors.base import Channel, IntakeResult
from connectors.telegram import TelegramChannel
from connectors.webchat import WebChat
from connectors.zalo_bot import ZaloBotChannel
from connectors.zalo_oa import ZaloOAChannel

log = logging.getLogger(__name__)

STORE = web.AppKey("store", Store)
PIPELINE = web.AppKey("pipeline", Pipeline)
HANDOVER = web.AppKey("handover", Handover)
TEXTS = web.AppKey("texts", Texts)
EVENTS = web.AppKey("events", EventHub)
SETTINGS = web.AppKey("settings", Settings)
CHANNELS = web.AppKey("channels", dict)


def build_channels(settings: Settings, pipeline: Pipeline, store: Store, texts: Texts) -> dict[str, Channel]:
    def intake(inbound: InboundMessage) -> IntakeResult:
        accepted = pipeline.accept(inbound)
        return IntakeResult(stored=True, duplicate=accepted.duplicate)

    def safe_reply():  # noqa: ANN202
        return texts.render("utter_safe_fallback")

    channels: dict[str, Channel] = {"webchat": WebChat(intake, store, safe_reply, settings.max_message_chars)}
    # Each platform starts only when its token is configured (from_settings returns None otherwise).
    platforms = (
        TelegramChannel.from_settings(settings, intake, safe_reply, texts),
        ZaloOAChannel.from_settings(settings, intake, safe_reply, texts, store),
        ZaloBotChannel.from_settings(settings, intake, safe_reply, texts, store),
    )
    channels.update({platform.name: platform for platform in platforms if platform is not None})
    return channels


def build_app(settings: Settings, store: Store | None = None) -> web.Application:
    store = store or Store.open(settings.database_url)
    texts = Texts.from_domain(settings.domain_file)
    events = EventHub()
    handover = Handover(store, settings)
    rasa = RasaClient(settings.rasa_url, settings.rasa_timeout_s)
    # With Redis, every event goes through it, so gateways and the action server see the same stream.
    relay = RedisRelay(settings.redis_url, events) if settings.redis_url else None
    notify = relay.publish if relay else events.publish
    pipeline = Pipeline(store, Screen.from_file(), rasa, texts, handover, notify=notify)
    channels = build_channels(settings, pipeline, store, texts)
    outbox = OutboxWorker(store, channels)

    app = web.Application(client_max_size=512 * 1024)
    app[STORE], app[PIPELINE], app[HANDOVER], app[TEXTS] = store, pipeline, handover, texts
    app[EVENTS], app[SETTINGS], app[CHANNELS] = events, settings, channels
    for channel in channels.values():
        app.router.add_routes(channel.routes())
    app.router.add_get("/healthz", _health)
    # The counsellors' console (/console) and its background tasks (live re-check, re-notification).
    setup_console(app, settings, store, handover, rasa, texts, events, notify, channels.get("telegram"))

    async def on_startup(_app: web.Application) -> None:
        if relay:
            await relay.start()
        for channel in channels.values():
            await channel.start()
        pipeline.start()
        outbox.start()

    async def on_cleanup(_app: web.Application) -> None:
        await outbox.stop()
        await pipeline.stop()
        for channel in channels.values():
            await channel.stop()
        await rasa.close()
        if relay:
            await relay.close()

    app.on_startup.append(on_startup)
    app.on_cleanup.append(on_cleanup)
    app.cleanup_ctx.append(_retention(store, settings.retention_days))
    return app


def _retention(store: Store, days: int):  # noqa: ANN202 - an aiohttp cleanup context
    """Delete messages older than the retention limit, at start-up and then daily."""

    async def context(_app: web.Application):  # noqa: ANN202
        async def purge_daily() -> None:
            while True:
                try:
                    removed = await asyncio.to_thread(store.purge_older_than, days)
                    if removed:
                        log.info("retention: deleted %d messages older than %d days", removed, days)
                except Exception:  # noqa: BLE001 - retry tomorrow; never take the gateway down
                    log.exception("retention purge failed")
                await asyncio.sleep(24 * 3600)

        task = asyncio.create_task(purge_daily())
        yield
        task.cancel()

    return context


async def _health(request: web.Request) -> web.Response:
    rasa_ready = await request.app[PIPELINE].rasa.is_ready()
    return web.json_response({"ok": True, "rasa": rasa_ready})


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bot.gateway")
    parser.add_argument("--host")
    parser.add_argument("--port", type=int)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v}
    settings = load_settings(**overrides)
    web.run_app(build_app(settings), host=settings.host, port=settings.port, print=log.info)


if __name__ == "__main__":
    main()
