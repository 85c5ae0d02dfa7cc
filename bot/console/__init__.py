"""The counsellors' web console, served by the gateway under /console.

`setup_console(app, ...)` mounts it as a sub-application (its own middleware: sessions, roles, CSRF,
security headers) and starts its background tasks with the gateway: the database re-check that feeds the
live views, and the re-notification of unclaimed urgent cases.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from aiohttp import web

from bot.config import Settings
from bot.console import views
from bot.console.auth import LoginThrottle, Sessions
from bot.console.background import Alert, Notify, QueueWatcher, Renotifier
from bot.console.desk import Desk
from bot.events import EventHub
from bot.handover import Handover
from bot.messages import OutboundMessage
from bot.rasa_client import RasaClient
from bot.store import Escalation, Store
from bot.texts import Texts
from connectors.base import Channel

__all__ = ["setup_console", "CONSOLE"]

CONSOLE = views.CONSOLE
STATIC = Path(__file__).with_name("static")
RENOTIFY_CHECK_S = 30.0
QUEUE_RECHECK_S = 2.0


def setup_console(
    app: web.Application, settings: Settings, store: Store, handover: Handover, rasa: RasaClient, texts: Texts,
    hub: EventHub, notify: Notify, telegram: Channel | None = None, queue_recheck_s: float = QUEUE_RECHECK_S,
    renotify_check_s: float = RENOTIFY_CHECK_S,
) -> web.Application:
    """Mount the console on the gateway app; returns the console's sub-application."""
    desk = Desk(store, handover, rasa, texts, notify, settings.max_message_chars)
    console = web.Application(middlewares=[views.guard])
    console[CONSOLE] = views.Console(
        store=store, handover=handover, desk=desk, sessions=Sessions(store), hub=hub,
        throttle=LoginThrottle(), closing=asyncio.Event(), pages=views.load_pages(),
    )
    _routes(console)
    renotifier = Renotifier(handover, store, texts, notify, settings.escalation_renotify_minutes,
                            _telegram_alert(settings, texts, telegram))
    watcher = QueueWatcher(handover, hub, queue_recheck_s)

    async def background(_app: web.Application):  # noqa: ANN202 - an aiohttp cleanup context
        tasks = [asyncio.create_task(watcher.run()), asyncio.create_task(renotifier.run(renotify_check_s))]
        yield
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def end_streams(_app: web.Application) -> None:
        console[CONSOLE].closing.set()  # open event streams end now instead of holding up the shutdown

    console.cleanup_ctx.append(background)
    console.on_shutdown.append(end_streams)
    app.add_subapp("/console", console)  # "/console" itself is redirected to "/console/" by the guard
    return console


def _routes(console: web.Application) -> None:
    case = "/cases/{case_id:\\d+}"
    console.router.add_get("/login", views.login_page, name="login_page")
    console.router.add_post("/login", views.login, name="login")
    console.router.add_post("/logout", views.logout)
    console.router.add_get("/", views.queue_page)
    console.router.add_get(case, views.case_page)
    console.router.add_get("/supervisor", views.supervisor_page)
    console.router.add_get("/api/me", views.me)
    console.router.add_get("/api/queue", views.queue)
    console.router.add_post("/api/take-next", views.take_next)
    console.router.add_get("/api" + case, views.case_file)
    console.router.add_get("/api" + case + "/messages", views.case_messages)
    console.router.add_post("/api" + case + "/claim", views.claim)
    console.router.add_post("/api" + case + "/reply", views.reply)
    console.router.add_post("/api" + case + "/notes", views.add_note)
    console.router.add_post("/api" + case + "/resolve", views.resolve)
    console.router.add_get("/api/stats", views.stats)
    console.router.add_get("/api/audit", views.audit_log)
    console.router.add_get("/api/events", views.events)
    console.router.add_static("/static", STATIC, name="static")


def _telegram_alert(settings: Settings, texts: Texts, telegram: Channel | None) -> Alert | None:
    """Re-notifications also go to the counsellors' Telegram group, when one is configured."""
    chat_id = settings.telegram_counsellor_chat_id
    if telegram is None or not chat_id:
        return None

    async def alert(case: Escalation, minutes: int) -> None:
        for message in texts.render(f"utter_counsellor_alert_{case.risk}", case_id=str(case.id),
                                    minutes=str(minutes)):
            await telegram.send(chat_id, OutboundMessage(message.text))

    return alert
