"""One conversation, four channels, the same answers: web chat, Telegram, Zalo OA and Zalo Bot, with the
real Rasa behind one gateway and fake platform servers in front of it.

Each channel shows the answers its own way (Telegram: inline keyboard; Zalo: numbered lines), so every
channel's driver turns what the platform received back into (text, button titles) turns.
"""

from __future__ import annotations

import dataclasses
import random
import re
import secrets
from typing import AsyncIterator, Protocol

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from bot.gateway import PIPELINE, SETTINGS, TEXTS
from bot.messages import Button
from connectors import telegram, zalo_bot, zalo_oa
from connectors.push import with_numbered_choices
from tests.conftest import RasaServer
from tests.fakes import zalo_oa_api
from tests.fakes.gateway import on_free_port, served_gateway, settled, webhook_url
from tests.fakes.telegram_api import FakeTelegram, keyboard
from tests.fakes.zalo_bot_api import FakeZaloBot
from tests.fakes.zalo_oa_api import FakeZaloOA

Reply = tuple[str, tuple[str, ...]]  # text, button titles

GREETING = "chào bạn"
BULLYING = "mik bi ban trong lop chui tren group zalo, phai lam sao"
BUTTON = "Nói chuyện với tư vấn viên"  # offered under the bullying answer
DISTRESS = "ko muon song nua"


class Driver(Protocol):
    user_id: str  # the platform's id of the child, as the gateway stores it

    async def say(self, text: str) -> list[Reply]: ...

    async def press(self, title: str) -> list[Reply]: ...


class WebChatDriver:
    def __init__(self, client: TestClient) -> None:
        self.client, self.user, self.after, self.last_buttons = client, secrets.token_hex(12), 0, []
        self.user_id = self.user

    async def _post(self, body: dict) -> list[Reply]:
        response = await self.client.post("/webchat/api/messages", json={"user": self.user, **body})
        assert response.status == 202, await response.text()
        await self.client.app[PIPELINE].drained()
        response = await self.client.get("/webchat/api/messages", params={"user": self.user, "after": self.after})
        messages = [m for m in (await response.json())["messages"] if m["from"] != "child"]
        self.after = max([self.after, *(m["id"] for m in messages)])
        self.last_buttons = next((m["buttons"] for m in reversed(messages) if m["buttons"]), self.last_buttons)
        return [(m["text"], tuple(b["title"] for b in m["buttons"])) for m in messages]

    async def say(self, text: str) -> list[Reply]:
        return await self._post({"text": text})

    async def press(self, title: str) -> list[Reply]:
        payload = next(b["payload"] for b in self.last_buttons if b["title"] == title)
        return await self._post({"text": payload, "button": True})


class TelegramDriver:
    def __init__(self, client: TestClient, fake: FakeTelegram) -> None:
        self.client, self.fake, self.chat = client, fake, random.randint(10**8, 10**9)
        self.user_id = str(self.chat)

    async def _deliver(self, update: dict) -> list[Reply]:
        seen = len(self.fake.sent_to(self.chat))
        status, body = await self.fake.deliver(update)
        assert status == 200, body
        await settled(self.client, "telegram", str(self.chat))
        return [(m["text"], tuple(title for title, _ in keyboard(m))) for m in self.fake.sent_to(self.chat)[seen:]]

    async def say(self, text: str) -> list[Reply]:
        return await self._deliver(self.fake.text_update(self.chat, text))

    async def press(self, title: str) -> list[Reply]:
        with_buttons = next(m for m in reversed(self.fake.sent_to(self.chat)) if keyboard(m))
        data = dict(keyboard(with_buttons))[title]
        return await self._deliver(self.fake.callback_update(self.chat, data, message=_message(with_buttons)))


class ZaloDriver:
    """Zalo OA and Zalo Bot alike: buttons arrive as numbered lines; the child types the number."""

    NUMBERED = re.compile(r"^(\d+)\. (.+)$", re.MULTILINE)

    def __init__(self, client: TestClient, fake: FakeZaloOA | FakeZaloBot, channel: str, path: str) -> None:
        self.client, self.fake, self.channel = client, fake, channel
        self.url = webhook_url(client.app[SETTINGS], path)
        self.user = self.user_id = str(random.randint(10**15, 10**16))
        self.hint = client.app[TEXTS].render("utter_choose_by_number")[0].text

    def _event(self, text: str) -> dict:
        if isinstance(self.fake, FakeZaloOA):
            return self.fake.text_event(self.user, text)
        return self.fake.text_update(self.user, text)

    async def say(self, text: str) -> list[Reply]:
        seen = len(self.fake.texts_to(self.user))
        status, body = await self.fake.deliver(self.url, self._event(text))
        assert status == 200, body
        await settled(self.client, self.channel, self.user)
        return [self._reply(text) for text in self.fake.texts_to(self.user)[seen:]]

    async def press(self, title: str) -> list[Reply]:
        shown = next(t for t in reversed(self.fake.texts_to(self.user)) if self.NUMBERED.search(t))
        number = next(n for n, t in self.NUMBERED.findall(shown) if t == title)
        return await self.say(number)

    def _reply(self, shown: str) -> Reply:
        """Undo the numbered rendering, checking it is exactly what the connector draws."""
        titles = tuple(title for _, title in self.NUMBERED.findall(shown))
        text = shown.split("\n\n1. ")[0] if titles else shown
        assert shown == with_numbered_choices(text, [Button(t, "") for t in titles], self.hint)
        return text, titles


def _message(sent: dict) -> dict:
    return {k: v for k, v in sent.items() if k != "at"}


@pytest.fixture
async def platforms() -> AsyncIterator[tuple[FakeTelegram, FakeZaloOA, FakeZaloBot]]:
    async with FakeTelegram() as tg, FakeZaloOA() as oa, FakeZaloBot() as bot:
        yield tg, oa, bot


async def test_same_conversation_on_every_channel(
    settings: Settings, rasa_server: RasaServer, platforms: tuple[FakeTelegram, FakeZaloOA, FakeZaloBot]
) -> None:
    tg, oa, bot = platforms
    settings = on_free_port(dataclasses.replace(settings, rasa_url=rasa_server.url,
                                                database_url=rasa_server.database_url))
    settings = dataclasses.replace(
        settings,
        telegram_bot_token=tg.token, telegram_api_base_url=tg.url, telegram_mode="webhook",
        telegram_webhook_secret="parity_secret", telegram_webhook_url=webhook_url(settings, telegram.WEBHOOK_PATH),
        zalo_oa_app_id=zalo_oa_api.APP_ID, zalo_oa_secret_key=zalo_oa_api.SECRET_KEY,
        zalo_oa_access_token=zalo_oa_api.ACCESS_TOKEN, zalo_oa_api_base_url=oa.url,
        zalo_bot_token=bot.token, zalo_bot_webhook_secret="parity-bot-secret", zalo_bot_api_base_url=bot.url,
        zalo_bot_webhook_url=webhook_url(settings, zalo_bot.WEBHOOK_PATH),
    )
    async with served_gateway(settings) as client:
        drivers: dict[str, Driver] = {
            "webchat": WebChatDriver(client),
            "telegram": TelegramDriver(client, tg),
            "zalo_oa": ZaloDriver(client, oa, "zalo_oa", zalo_oa.WEBHOOK_PATH),
            "zalo_bot": ZaloDriver(client, bot, "zalo_bot", zalo_bot.WEBHOOK_PATH),
        }
        transcripts: dict[str, list[list[Reply]]] = {}
        for name, driver in drivers.items():
            transcripts[name] = [
                await driver.say(GREETING),
                await driver.say(BULLYING),
                await driver.press(BUTTON),
                await driver.say(DISTRESS),
            ]

        texts = client.app[TEXTS]
        greeting, bullying, button, distress = transcripts["webchat"]
        assert greeting and greeting[-1][1], "the greeting offers topics as buttons"
        assert any("chụp màn hình" in text.lower() for text, _ in bullying)
        assert BUTTON in bullying[-1][1]
        on_duty = [m.text for m in texts.render("utter_handover_calling")]
        assert [text for text, _ in button] == [m.text for m in texts.render("utter_request_human")] + on_duty
        # The case is open already (the button asked for a person): the safety question, no second notice.
        assert [text for text, _ in distress] == [m.text for m in texts.render("utter_safety_high")]
        for name, transcript in transcripts.items():
            assert transcript == transcripts["webchat"], f"{name} answered differently"
        cases = {contact.channel for case, contact in client.app[PIPELINE].handover.cases()
                 if case.risk == "high" and contact.external_id in {d.user_id for d in drivers.values()}}
        assert cases == set(drivers)  # every channel's child now has a high-risk case for a counsellor

