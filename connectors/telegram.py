"""Telegram, through python-telegram-bot's `Bot` (HTTP only: the gateway owns the webhook and the loop).

Webhook mode: Telegram POSTs updates to /telegram/webhook with the secret given to setWebhook in
`X-Telegram-Bot-Api-Secret-Token`. Polling mode: a task calls getUpdates. Either way an update is
acknowledged only once it is stored; `update_id` makes a resend a no-op.

Only private chats are served: a child's conversation never goes to a group.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import warnings
from collections import OrderedDict
from datetime import timedelta

from aiohttp import web
from telegram import Bot as TelegramBot
from telegram import BotCommand, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError
from telegram.warnings import PTBDeprecationWarning

from bot.config import Settings
from bot.messages import Button, InboundMessage, OutboundMessage
from bot.texts import Texts
from connectors.base import DeliveryError, Intake, SafeReply, json_error, read_json
from connectors.push import PushChannel, Taken, split_text, utf16_len

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what setWebhook accepts as secret_token
ALLOWED_UPDATES = ["message", "callback_query"]
TEXT_LIMIT = 4096  # sendMessage text, in UTF-16 code units
CALLBACK_DATA_BYTES = 64
LONG_PAYLOAD_PREFIX = "~"  # callback_data standing for a payload too long for Telegram
LONG_PAYLOADS_REMEMBERED = 10_000
COMMANDS_RESPONSE = "utter_telegram_commands"  # "name - description" lines, in domain.yml
POLL_TIMEOUT_S = 25
SET_UP_RETRY_S = (5, 15, 60, 300)


class TelegramChannel(PushChannel):
    name = "telegram"

    def __init__(
        self, bot: TelegramBot, intake: Intake, safe_reply: SafeReply, texts: Texts, max_chars: int,
        mode: str = "polling", webhook_url: str = "", secret: str = "",
    ) -> None:
        super().__init__(intake, safe_reply, texts, max_chars)
        self.bot = bot
        self.mode = mode
        self.webhook_url = webhook_url
        self.secret = secret
        self._long_payloads: OrderedDict[str, str] = OrderedDict()
        self._task: asyncio.Task | None = None

    @classmethod
    def from_settings(
        cls, settings: Settings, intake: Intake, safe_reply: SafeReply, texts: Texts
    ) -> TelegramChannel | None:
        """The channel, or None when Telegram is not configured (or configured unsafely)."""
        if not settings.telegram_bot_token:
            return None
        if settings.telegram_mode not in ("polling", "webhook"):
            log.error("TELEGRAM_MODE must be 'polling' or 'webhook', not %r: Telegram not started",
                      settings.telegram_mode)
            return None
        if settings.telegram_mode == "webhook" and not SECRET_RE.match(settings.telegram_webhook_secret):
            # Without a secret anyone could post fake updates in a child's name.
            log.error("webhook mode needs TELEGRAM_WEBHOOK_SECRET (1-256 of A-Z a-z 0-9 _ -): Telegram not started")
            return None
        bot = TelegramBot(settings.telegram_bot_token, base_url=settings.telegram_api_base_url.rstrip("/") + "/bot")
        return cls(bot, intake, safe_reply, texts, settings.max_message_chars, settings.telegram_mode,
                   settings.telegram_webhook_url, settings.telegram_webhook_secret)

    # -- life cycle -----------------------------------------------------------------------------
    def routes(self) -> list[web.RouteDef]:
        return [web.post(WEBHOOK_PATH, self.webhook)] if self.mode == "webhook" else []

    async def start(self) -> None:
        # One attempt now (so a misconfiguration shows at start-up), then keep trying in the background:
        # Telegram being unreachable must not stop the gateway (the web chat still works).
        ready = await self._try_set_up()
        self._task = asyncio.create_task(self._run(ready))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        await self.bot.shutdown()

    async def _try_set_up(self) -> bool:
        try:
            await self.bot.initialize()  # getMe: checks the token
            commands = self._commands()
            if commands:
                await self.bot.set_my_commands(commands)
            if self.mode == "webhook":
                if self.webhook_url:
                    await self.bot.set_webhook(self.webhook_url, secret_token=self.secret,
                                               allowed_updates=ALLOWED_UPDATES)
            else:
                await self.bot.delete_webhook()  # getUpdates is refused while a webhook is set
        except TelegramError as error:
            log.warning("Telegram set-up failed: %s", error)
            return False
        log.info("Telegram bot @%s ready (%s)", self.bot.username, self.mode)
        return True

    async def _run(self, ready: bool) -> None:
        attempt = 0
        while not ready:
            await asyncio.sleep(SET_UP_RETRY_S[min(attempt, len(SET_UP_RETRY_S) - 1)])
            attempt += 1
            ready = await self._try_set_up()
        if self.mode == "polling":
            await self._poll()

    def _commands(self) -> list[BotCommand]:
        if COMMANDS_RESPONSE not in self.texts:
            return []
        lines = self.texts.render(COMMANDS_RESPONSE)[0].text.splitlines()
        pairs = [line.partition(" - ") for line in lines if " - " in line]
        return [BotCommand(command.strip().lstrip("/"), description.strip()) for command, _, description in pairs]

    # -- receiving ------------------------------------------------------------------------------
    async def webhook(self, request: web.Request) -> web.Response:
        given = request.headers.get(SECRET_HEADER, "")
        if not hmac.compare_digest(given.encode(), self.secret.encode()):
            return json_error(403, f"missing or wrong {SECRET_HEADER}")
        body = await read_json(request)
        if not isinstance(body.get("update_id"), int):
            return json_error(400, "not a Telegram update: update_id must be an integer")
        try:
            update = Update.de_json(body, self.bot)
        except (KeyError, TypeError, ValueError, AttributeError) as error:
            return json_error(400, f"not a Telegram update: {error}")
        return self.webhook_response(await self._take_update(update))

    async def _poll(self) -> None:
        offset: int | None = None
        failures = 0
        while True:
            try:
                updates = await self.bot.get_updates(offset=offset, timeout=POLL_TIMEOUT_S,
                                                     allowed_updates=ALLOWED_UPDATES)
                failures = 0
            except RetryAfter as error:
                await asyncio.sleep(retry_after_seconds(error))
                continue
            except TelegramError as error:
                failures += 1
                log.warning("getUpdates failed: %s", error)
                await asyncio.sleep(min(2 ** failures, 60))
                continue
            for update in updates:
                if await self._take_update(update) is Taken.NOT_STORED:
                    await asyncio.sleep(5)  # the database refused it: fetch it again
                    break
                offset = update.update_id + 1  # confirms it to Telegram on the next call

    async def _take_update(self, update: Update) -> Taken | None:
        inbound = self._inbound(update)
        taken = await self.take(inbound) if inbound else None
        if update.callback_query is not None:
            try:
                await update.callback_query.answer()  # stops the spinner on the button
            except TelegramError as error:
                log.info("answerCallbackQuery failed: %s", error)
        return taken

    def _inbound(self, update: Update) -> InboundMessage | None:
        key = f"u{update.update_id}"
        message = update.message
        if message is not None:
            if message.chat.type != "private" or not (message.text or "").strip():
                return None  # groups, photos, stickers...: not handled
            return InboundMessage(self.name, str(message.chat.id), message.text.strip(), key)
        query = update.callback_query
        if query is not None and query.data:
            chat = query.message.chat if query.message is not None else None
            if chat is not None and chat.type != "private":
                return None
            user_id = str(chat.id if chat is not None else query.from_user.id)
            payload = self._payload(query.data)
            if payload is not None:
                return InboundMessage(self.name, user_id, payload, key, is_button=True)
            # A long payload from before a restart: the button's title is the next best thing.
            title = _button_title(query.message, query.data)
            return InboundMessage(self.name, user_id, title, key) if title else None
        return None

    # -- sending --------------------------------------------------------------------------------
    async def send(self, user_id: str, message: OutboundMessage) -> None:
        chunks = split_text(message.text, TEXT_LIMIT, utf16_len)
        keyboard = self._keyboard(message.buttons)
        for number, chunk in enumerate(chunks, 1):
            markup = keyboard if number == len(chunks) else None  # buttons go under the last part
            try:
                await self.bot.send_message(chat_id=user_id, text=chunk, reply_markup=markup)
            except RetryAfter as error:
                raise DeliveryError(str(error), retry_after_s=retry_after_seconds(error)) from error
            except (Forbidden, BadRequest, InvalidToken) as error:
                # Blocked by the user, chat gone, or a refused request: resending cannot help.
                raise DeliveryError(str(error), retry_after_s=None) from error
            except TelegramError as error:
                raise DeliveryError(str(error)) from error

    def _keyboard(self, buttons: tuple[Button, ...]) -> InlineKeyboardMarkup | None:
        if not buttons:
            return None
        # One button per row: the titles are short sentences.
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.title, callback_data=self._callback_data(b.payload))] for b in buttons]
        )

    def _callback_data(self, payload: str) -> str:
        if len(payload.encode()) <= CALLBACK_DATA_BYTES and not payload.startswith(LONG_PAYLOAD_PREFIX):
            return payload
        digest = base64.urlsafe_b64encode(hashlib.sha256(payload.encode()).digest()).decode()[:32]
        key = LONG_PAYLOAD_PREFIX + digest
        self._long_payloads[key] = payload
        self._long_payloads.move_to_end(key)
        if len(self._long_payloads) > LONG_PAYLOADS_REMEMBERED:
            self._long_payloads.popitem(last=False)
        return key

    def _payload(self, callback_data: str) -> str | None:
        if callback_data.startswith(LONG_PAYLOAD_PREFIX):
            return self._long_payloads.get(callback_data)
        return callback_data


def _button_title(message: object, callback_data: str) -> str | None:
    markup = getattr(message, "reply_markup", None)
    for row in getattr(markup, "inline_keyboard", ()):
        for button in row:
            if button.callback_data == callback_data:
                return button.text
    return None


def retry_after_seconds(error: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that retry_after becomes a timedelta; accept either.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)
