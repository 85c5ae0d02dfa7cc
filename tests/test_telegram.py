"""Telegram through the real gateway and the real python-telegram-bot, against a fake Bot API server.

Rasa is not running here (its address is dead): replies come from the gateway itself (commands, safety
replies, the safe fallback), which is enough to test the channel. tests/test_channels_parity.py uses Rasa.
"""

from __future__ import annotations

import dataclasses
import random
from typing import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from bot.gateway import CHANNELS, SETTINGS, STORE, TEXTS, build_app
from bot.store import Store
from connectors.push import split_text, utf16_len
from connectors.telegram import WEBHOOK_PATH
from tests.fakes.gateway import inbound, on_free_port, outbound, served_gateway, settled, webhook_url, without_rasa
from tests.fakes.telegram_api import FakeTelegram, keyboard

SECRET = "s3cret_for-the-webhook"



def hotline_texts(client: TestClient) -> list[str]:
    """/111: the hotline answer and its follow-up question."""
    return texts(client, "utter_ask_hotline/general") + texts(client, "utter_next_ask_hotline__general")


def texts(client: TestClient, name: str) -> list[str]:
    return [m.text for m in client.app[TEXTS].render(name)]


def new_chat() -> int:
    return random.randint(10**8, 10**9)


def telegram_settings(settings: Settings, fake: FakeTelegram, mode: str = "webhook") -> Settings:
    settings = on_free_port(without_rasa(settings))
    return dataclasses.replace(
        settings, telegram_bot_token=fake.token, telegram_api_base_url=fake.url, telegram_mode=mode,
        telegram_webhook_secret=SECRET, telegram_webhook_url=webhook_url(settings, WEBHOOK_PATH),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    async with FakeTelegram() as server:
        yield server


@pytest.fixture
async def client(settings: Settings, fake: FakeTelegram) -> AsyncIterator[TestClient]:
    async with served_gateway(telegram_settings(settings, fake)) as gateway_client:
        yield gateway_client


async def test_start_up_checks_token_registers_commands_and_webhook(client: TestClient, fake: FakeTelegram) -> None:
    assert fake.calls[0][0] == "getMe"
    assert fake.webhook == {"url": webhook_url(client.app[SETTINGS], WEBHOOK_PATH), "secret_token": SECRET,
                            "allowed_updates": ["message", "callback_query"]}
    assert [c["command"] for c in fake.commands] == ["start", "111", "xoa"]
    assert all(c["description"] for c in fake.commands)


async def test_child_message_in_safety_reply_out(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    status, body = await fake.deliver(fake.text_update(chat, "ko muon song nua"))
    assert (status, body) == (200, {"ok": True, "duplicate": False})
    await settled(client, "telegram", str(chat))
    expected = texts(client, "utter_safety_high") + texts(client, "utter_handover_calling")
    assert fake.texts_to(chat) == expected
    assert "111" in " ".join(expected)
    (message,) = inbound(client, "telegram", str(chat))
    assert (message.text, message.risk) == ("ko muon song nua", "high")
    assert message.dedupe_key.startswith("u")


async def test_buttons_round_trip(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    await fake.deliver(fake.text_update(chat, "/start"))
    await settled(client, "telegram", str(chat))
    assert fake.texts_to(chat) == texts(client, "utter_start")
    last = fake.sent_to(chat)[-1]
    buttons = keyboard(last)
    expected = [(b.title, b.payload) for b in client.app[TEXTS].render("utter_start")[-1].buttons]
    assert buttons == expected  # short payloads travel as callback_data unchanged
    assert all(not keyboard(m) for m in fake.sent_to(chat)[:-1])  # buttons only under the last part

    title, data = buttons[0]
    update = fake.callback_update(chat, data)
    status, _ = await fake.deliver(update)
    assert status == 200
    assert fake.answered_callbacks == [update["callback_query"]["id"]]
    await settled(client, "telegram", str(chat))
    pressed = inbound(client, "telegram", str(chat))[-1]
    assert pressed.text == "/ask_bullying"  # the payload reached the pipeline, not the title


async def test_long_payload_travels_under_a_short_key(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    await fake.deliver(fake.text_update(chat, "/111"))
    contact = await _contact(client, chat)
    payload = '/parent_guidance{"topic":"harmful_content","detail":"' + "x" * 80 + '"}'
    client.app[STORE].queue_outbound(contact.id, "counsellor", "Chọn một mục", [{"title": "Mục", "payload": payload}])
    await settled(client, "telegram", str(chat))
    ((title, data),) = keyboard(fake.sent_to(chat)[-1])
    assert title == "Mục" and data != payload and len(data.encode()) <= 64
    await fake.deliver(fake.callback_update(chat, data))
    await settled(client, "telegram", str(chat))
    assert inbound(client, "telegram", str(chat))[-1].text == payload


async def test_wrong_or_missing_secret_is_refused(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    for secret in ("wrong-secret", ""):
        status, body = await fake.deliver(fake.text_update(chat, "chào"), secret=secret)
        assert status == 403
        assert "X-Telegram-Bot-Api-Secret-Token" in body["error"]
    assert client.app[STORE].find_contact("telegram", str(chat)) is None  # nothing was stored


async def test_malformed_and_oversized_requests_get_clear_errors(client: TestClient, fake: FakeTelegram) -> None:
    cases = [
        (b"{not json", 400, "JSON"),
        (b"[]", 400, "object"),
        (b'{"message": {"text": "hi"}}', 400, "update_id"),
        (b'{"update_id": 5, "message": "hi"}', 400, "not a Telegram update"),
        (b'{"update_id": 6, "pad": "' + b"x" * 300_000 + b'"}', 413, "too large"),
    ]
    for body, status, words in cases:
        got_status, answer = await fake.deliver(body)
        assert got_status == status, (body[:40], answer)
        assert words in answer["error"]


async def test_over_long_text_is_refused_and_the_child_told_once(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    limit = client.app[SETTINGS].max_message_chars
    update = fake.text_update(chat, "a" * (limit + 1))
    for _ in range(2):  # Telegram resends what was not acknowledged
        status, body = await fake.deliver(update)
        assert status == 413
        assert f"longer than {limit}" in body["error"]
    assert fake.texts_to(chat) == texts(client, "utter_message_too_long")
    assert inbound(client, "telegram", str(chat)) == []


async def test_resent_update_is_processed_once(settings: Settings, fake: FakeTelegram, any_store: Store) -> None:
    async with served_gateway(telegram_settings(settings, fake), any_store) as client:
        chat = new_chat()
        update = fake.text_update(chat, "/111")
        assert await fake.deliver(update) == (200, {"ok": True, "duplicate": False})
        assert await fake.deliver(update) == (200, {"ok": True, "duplicate": True})
        await settled(client, "telegram", str(chat))
        assert len(inbound(client, "telegram", str(chat))) == 1
        assert fake.texts_to(chat) == hotline_texts(client)  # answered once


async def test_429_is_honoured(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    fake.rate_limit_next = [1]
    await fake.deliver(fake.text_update(chat, "/111"))
    await settled(client, "telegram", str(chat))
    expected = hotline_texts(client)
    assert fake.texts_to(chat) == expected  # all delivered, in order, none twice
    (refused,) = fake.rate_limited
    assert refused["text"] == expected[0]
    assert fake.sent_to(chat)[0]["at"] - refused["at"] >= 1.0  # not before retry_after


async def test_blocked_bot_is_a_permanent_failure(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    fake.blocked_chats.add(chat)
    await fake.deliver(fake.text_update(chat, "/111"))
    await settled(client, "telegram", str(chat))
    first, *rest = outbound(client, "telegram", str(chat))
    assert first.status == "failed" and first.attempts == 1  # not retried: resending cannot help
    assert all(m.status == "failed" for m in rest)
    sends = [c for c in fake.calls if c[0] == "sendMessage" and int(c[1]["chat_id"]) == chat]
    assert len(sends) == 1 + len(rest)


async def test_long_text_is_split_on_paragraphs(client: TestClient, fake: FakeTelegram) -> None:
    chat = new_chat()
    await fake.deliver(fake.text_update(chat, "/111"))
    contact = await _contact(client, chat)
    before = len(fake.sent_to(chat))
    paragraphs = [f"Đoạn {i}: " + "chữ 😀 " * 300 for i in range(6)]  # ~2100 UTF-16 units each
    long_text = "\n\n".join(p.strip() for p in paragraphs)
    client.app[STORE].queue_outbound(contact.id, "counsellor", long_text)
    await settled(client, "telegram", str(chat))
    parts = fake.texts_to(chat)[before:]
    assert len(parts) == 6
    assert all(utf16_len(p) <= 4096 for p in parts)
    assert "\n\n".join(parts) == long_text  # cut only between paragraphs, nothing lost


def test_split_text_prefers_paragraphs_then_lines_then_words() -> None:
    assert split_text("aaa\n\nbbb", 5) == ["aaa", "bbb"]
    assert split_text("aa bb\ncc dd", 8) == ["aa bb", "cc dd"]
    assert split_text("one two three", 9) == ["one two", "three"]
    assert split_text("x" * 10, 4) == ["xxxx", "xxxx", "xx"]
    assert split_text("😀😀😀", 4, utf16_len) == ["😀😀", "😀"]
    assert split_text("  short  ", 100) == ["short"]


async def test_polling_mode(settings: Settings, fake: FakeTelegram) -> None:
    chat = new_chat()
    update = fake.text_update(chat, "/111")
    fake.queue_update(update)
    fake.queue_update(update)  # a resend with the same update_id
    async with served_gateway(telegram_settings(settings, fake, mode="polling")) as client:
        await fake.wait_sent(chat, len(hotline_texts(client)))
        await settled(client, "telegram", str(chat))
        assert fake.texts_to(chat) == hotline_texts(client)
        assert len(inbound(client, "telegram", str(chat))) == 1
        assert ("deleteWebhook", {}) in fake.calls  # getUpdates is refused while a webhook is set
        confirmed = ("getUpdates", {"offset": update["update_id"] + 1, "timeout": 25,
                                    "allowed_updates": ["message", "callback_query"]})
        await fake.wait_for(lambda: confirmed in fake.calls, what="the update to be confirmed by offset")
    assert not fake.webhook


async def test_database_failure_gives_safe_reply_and_asks_for_a_resend(client: TestClient, fake: FakeTelegram) -> None:
    from sqlalchemy import create_engine

    store = client.app[STORE]
    store.engine = create_engine("sqlite:////nonexistent/dir/x.db")  # every write now fails
    store._sessions.configure(bind=store.engine)
    chat = new_chat()
    update = fake.text_update(chat, "cuu em voi")
    for _ in range(2):
        status, body = await fake.deliver(update)
        assert status == 500 and "resend" in body["error"]
    assert fake.texts_to(chat) == texts(client, "utter_safe_fallback")  # once, though Telegram resent


def test_channel_needs_its_token_and_a_webhook_secret(settings: Settings) -> None:
    assert set(build_app(settings)[CHANNELS]) == {"webchat"}
    unsafe = dataclasses.replace(settings, telegram_bot_token="1:x", telegram_mode="webhook")
    assert "telegram" not in build_app(unsafe)[CHANNELS]  # webhook without a secret: not started
    polling = dataclasses.replace(settings, telegram_bot_token="1:x", telegram_mode="polling")
    assert "telegram" in build_app(polling)[CHANNELS]


async def _contact(client: TestClient, chat: int):  # noqa: ANN202
    await settled(client, "telegram", str(chat))
    contact = client.app[STORE].find_contact("telegram", str(chat))
    assert contact is not None
    return contact
