"""Zalo Official Account and Zalo Bot through the real gateway, against fake Zalo API servers.

Rasa is not running here: replies come from the gateway (commands, safety replies, the safe fallback).
"""

from __future__ import annotations

import dataclasses
import json
import secrets
from typing import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from bot.config import Settings
from bot.gateway import CHANNELS, SETTINGS, STORE, TEXTS, build_app
from bot.messages import OutboundMessage
from connectors import zalo_bot, zalo_oa
from connectors.push import with_numbered_choices
from tests.fakes import zalo_oa_api
from tests.fakes.gateway import inbound, on_free_port, outbound, served_gateway, settled, webhook_url, without_rasa
from tests.fakes.zalo_bot_api import FakeZaloBot
from tests.fakes.zalo_oa_api import FakeZaloOA

BOT_SECRET = "zalo-bot-webhook-secret"


def zalo_settings(settings: Settings, oa: FakeZaloOA, bot: FakeZaloBot) -> Settings:
    settings = on_free_port(without_rasa(settings))
    return dataclasses.replace(
        settings,
        zalo_oa_app_id=zalo_oa_api.APP_ID, zalo_oa_secret_key=zalo_oa_api.SECRET_KEY,
        zalo_oa_access_token=zalo_oa_api.ACCESS_TOKEN, zalo_oa_api_base_url=oa.url,
        zalo_bot_token=bot.token, zalo_bot_webhook_secret=BOT_SECRET, zalo_bot_api_base_url=bot.url,
        zalo_bot_webhook_url=webhook_url(settings, zalo_bot.WEBHOOK_PATH),
    )


@pytest.fixture
async def oa() -> AsyncIterator[FakeZaloOA]:
    async with FakeZaloOA() as server:
        yield server


@pytest.fixture
async def bot() -> AsyncIterator[FakeZaloBot]:
    async with FakeZaloBot() as server:
        yield server


@pytest.fixture
async def client(settings: Settings, oa: FakeZaloOA, bot: FakeZaloBot) -> AsyncIterator[TestClient]:
    async with served_gateway(zalo_settings(settings, oa, bot)) as gateway_client:
        yield gateway_client


def oa_url(client: TestClient) -> str:
    return webhook_url(client.app[SETTINGS], zalo_oa.WEBHOOK_PATH)


def bot_url(client: TestClient) -> str:
    return webhook_url(client.app[SETTINGS], zalo_bot.WEBHOOK_PATH)


def new_user() -> str:
    return str(secrets.randbelow(10**18))



def hotline_as_zalo_texts(client: TestClient) -> list[str]:
    """/111: the hotline answer and its follow-up question."""
    return as_zalo_texts(client, "utter_ask_hotline/general") + as_zalo_texts(client, "utter_next_ask_hotline__general")


def as_zalo_texts(client: TestClient, response: str) -> list[str]:
    """What a Zalo user sees for a domain response: buttons as numbered lines and the hint."""
    hint = client.app[TEXTS].render("utter_choose_by_number")[0].text
    return [with_numbered_choices(m.text, m.buttons, hint) for m in client.app[TEXTS].render(response)]


def first_safety_reply(client: TestClient) -> list[str]:
    """A first disclosure: the safety question, then the notice that is true (a counsellor is on duty)."""
    return as_zalo_texts(client, "utter_safety_high") + as_zalo_texts(client, "utter_handover_calling")


# -- Zalo Official Account --------------------------------------------------------------------------

async def test_oa_child_message_in_safety_reply_out(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    status, body = await oa.deliver(oa_url(client), oa.text_event(user, "ko muon song nua"))
    assert (status, body) == (200, {"ok": True, "duplicate": False})
    await settled(client, "zalo_oa", user)
    assert oa.texts_to(user) == first_safety_reply(client)
    request = oa.attempts[-1]
    assert request["headers"]["access_token"] == zalo_oa_api.ACCESS_TOKEN
    assert request["body"] == {"recipient": {"user_id": user}, "message": {"text": oa.texts_to(user)[-1]}}


async def test_oa_unsigned_or_badly_signed_events_are_refused(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    event = oa.text_event(user, "chào")
    body = json.dumps(event).encode()
    tampered = json.dumps({**event, "sender": {"id": new_user()}}).encode()
    good_mac = "mac=" + oa.signature(body, event["timestamp"])
    cases = [
        (body, "", 401, "missing X-ZEvent-Signature"),
        (body, "sha256=" + oa.signature(body, event["timestamp"]), 401, "missing"),
        (body, "mac=" + oa.signature(body, event["timestamp"], secret_key="not-the-secret"), 403, "bad"),
        (tampered, good_mac, 403, "bad"),  # a signature for another body
        (json.dumps({**event, "timestamp": "1"}).encode(), good_mac, 403, "bad"),
    ]
    for raw, signature, status, words in cases:
        got_status, answer = await oa.deliver(oa_url(client), raw, signature=signature)
        assert got_status == status, answer
        assert words in answer["error"]
    assert client.app[STORE].find_contact("zalo_oa", user) is None


async def test_oa_malformed_events_get_clear_errors(client: TestClient, oa: FakeZaloOA) -> None:
    signed = "mac=" + "0" * 64
    status, answer = await oa.deliver(oa_url(client), b"{not json", signature=signed)
    assert status == 400 and "JSON" in answer["error"]
    no_text = oa.text_event(new_user(), "x")
    del no_text["message"]["text"]
    status, answer = await oa.deliver(oa_url(client), no_text)
    assert status == 400 and "message.text" in answer["error"]


async def test_oa_other_events_are_acknowledged_and_ignored(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    event = {**oa.text_event(user, "x"), "event_name": "follow"}
    assert await oa.deliver(oa_url(client), event) == (200, {"ok": True, "ignored": True})
    assert client.app[STORE].find_contact("zalo_oa", user) is None


async def test_oa_over_long_text_is_refused_and_the_child_told(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    limit = client.app[SETTINGS].max_message_chars
    status, answer = await oa.deliver(oa_url(client), oa.text_event(user, "a" * (limit + 1)))
    assert status == 413 and f"longer than {limit}" in answer["error"]
    assert oa.texts_to(user) == as_zalo_texts(client, "utter_message_too_long")


async def test_oa_resent_event_is_processed_once(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    event = oa.text_event(user, "/111", msg_id="dup-1")
    assert (await oa.deliver(oa_url(client), event))[0] == 200
    assert await oa.deliver(oa_url(client), event) == (200, {"ok": True, "duplicate": True})
    await settled(client, "zalo_oa", user)
    assert len(inbound(client, "zalo_oa", user)) == 1
    assert oa.texts_to(user) == hotline_as_zalo_texts(client)


async def test_oa_numbered_choice_becomes_the_button_payload(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    await oa.deliver(oa_url(client), oa.text_event(user, "/start"))
    await settled(client, "zalo_oa", user)
    shown = oa.texts_to(user)[-1]
    assert "\n1. Bị bắt nạt trên mạng\n2. Người lạ làm quen\n" in shown
    await oa.deliver(oa_url(client), oa.text_event(user, "2"))
    await settled(client, "zalo_oa", user)
    assert inbound(client, "zalo_oa", user)[-1].text == "/ask_grooming"
    # A number with no choices on offer is just text.
    await oa.deliver(oa_url(client), oa.text_event(user, "2"))
    await settled(client, "zalo_oa", user)
    assert inbound(client, "zalo_oa", user)[-1].text == "2"


async def test_oa_not_interacted_for_7_days_is_permanent(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    oa.next_errors = [{"error": -230, "message": "User has not interacted with the OA in the last 7 days"}]
    await oa.deliver(oa_url(client), oa.text_event(user, "/111"))
    await settled(client, "zalo_oa", user)
    first, *rest = outbound(client, "zalo_oa", user)
    assert (first.status, first.attempts) == ("failed", 1)
    assert [m.status for m in rest] == ["sent"] * len(rest)


async def test_oa_other_errors_are_retried(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    oa.next_errors = [{"error": -500, "message": "a temporary error made up by the fake"}]
    await oa.deliver(oa_url(client), oa.text_event(user, "/111"))
    await oa.wait_for(lambda: [m.attempts for m in outbound(client, "zalo_oa", user)][:1] == [1],
                      what="the first delivery attempt")
    first = outbound(client, "zalo_oa", user)[0]
    assert first.status == "queued" and oa.texts_to(user) == []  # kept, waiting for its retry
    client.app[STORE].mark_retry(first.id, 0)  # due now rather than in 5 s
    await settled(client, "zalo_oa", user)
    assert oa.texts_to(user) == hotline_as_zalo_texts(client)


async def test_oa_long_reply_is_split(client: TestClient, oa: FakeZaloOA) -> None:
    user = new_user()
    await oa.deliver(oa_url(client), oa.text_event(user, "/111"))
    contact = await _contact(client, "zalo_oa", user)
    before = len(oa.texts_to(user))
    lines = [f"Dòng {i}: " + "nội dung " * 40 for i in range(20)]
    client.app[STORE].queue_outbound(contact.id, "counsellor", "\n".join(line.strip() for line in lines))
    await settled(client, "zalo_oa", user)
    parts = oa.texts_to(user)[before:]
    assert len(parts) > 1 and all(len(p) <= 2000 for p in parts)
    assert "\n".join(parts).splitlines() == [line.strip() for line in lines]  # cut between lines


# -- Zalo Bot ---------------------------------------------------------------------------------------

async def test_bot_start_sets_webhook_with_secret(client: TestClient, bot: FakeZaloBot) -> None:
    assert bot.webhook == {"url": bot_url(client), "secret_token": BOT_SECRET}


@pytest.mark.parametrize("wrapped", [True, False])
async def test_bot_child_message_in_safety_reply_out(client: TestClient, bot: FakeZaloBot, wrapped: bool) -> None:
    chat = new_user()
    status, body = await bot.deliver(bot_url(client), bot.text_update(chat, "ko muon song nua", wrapped=wrapped))
    assert (status, body) == (200, {"ok": True, "duplicate": False})
    await settled(client, "zalo_bot", chat)
    assert bot.texts_to(chat) == first_safety_reply(client)
    assert inbound(client, "zalo_bot", chat)[0].risk == "high"


async def test_bot_wrong_or_missing_secret_is_refused(client: TestClient, bot: FakeZaloBot) -> None:
    chat = new_user()
    for secret in ("wrong-secret-value", ""):
        status, body = await bot.deliver(bot_url(client), bot.text_update(chat, "chào"), secret=secret)
        assert status == 403 and "X-Bot-Api-Secret-Token" in body["error"]
    assert client.app[STORE].find_contact("zalo_bot", chat) is None


async def test_bot_malformed_and_over_long_get_clear_errors(client: TestClient, bot: FakeZaloBot) -> None:
    status, answer = await bot.deliver(bot_url(client), b"not json")
    assert status == 400 and "JSON" in answer["error"]
    status, answer = await bot.deliver(bot_url(client), {"event_name": "message.text.received", "message": "x"})
    assert status == 400 and "message object" in answer["error"]
    chat = new_user()
    limit = client.app[SETTINGS].max_message_chars
    status, answer = await bot.deliver(bot_url(client), bot.text_update(chat, "a" * (limit + 1)))
    assert status == 413 and f"longer than {limit}" in answer["error"]
    assert bot.texts_to(chat) == as_zalo_texts(client, "utter_message_too_long")


async def test_bot_resent_message_is_processed_once(client: TestClient, bot: FakeZaloBot) -> None:
    chat = new_user()
    update = bot.text_update(chat, "/111", message_id="same-id")
    assert (await bot.deliver(bot_url(client), update))[0] == 200
    assert await bot.deliver(bot_url(client), update) == (200, {"ok": True, "duplicate": True})
    await settled(client, "zalo_bot", chat)
    assert len(inbound(client, "zalo_bot", chat)) == 1
    assert bot.texts_to(chat) == hotline_as_zalo_texts(client)


async def test_bot_429_is_honoured(client: TestClient, bot: FakeZaloBot) -> None:
    chat = new_user()
    bot.rate_limit_next = [1]
    await bot.deliver(bot_url(client), bot.text_update(chat, "/111"))
    await settled(client, "zalo_bot", chat)
    expected = hotline_as_zalo_texts(client)
    assert bot.texts_to(chat) == expected
    (refused,) = bot.rate_limited
    first_sent = next(m for m in bot.sent if m["chat_id"] == chat)
    assert refused["text"] == expected[0] and first_sent["at"] - refused["at"] >= 1.0


async def test_bot_long_reply_is_split_at_2000(client: TestClient, bot: FakeZaloBot) -> None:
    chat = new_user()
    await bot.deliver(bot_url(client), bot.text_update(chat, "/111"))
    contact = await _contact(client, "zalo_bot", chat)
    before = len(bot.texts_to(chat))
    long_text = "\n\n".join(f"Đoạn {i}. " + "chữ " * 200 for i in range(5))
    client.app[STORE].queue_outbound(contact.id, "counsellor", long_text)
    await settled(client, "zalo_bot", chat)
    parts = bot.texts_to(chat)[before:]
    assert len(parts) == 3 and all(len(p) <= 2000 for p in parts)
    assert " ".join(" ".join(parts).split()) == " ".join(long_text.split())


async def test_bot_numbered_choice_becomes_the_button_payload(client: TestClient, bot: FakeZaloBot) -> None:
    chat = new_user()
    await bot.deliver(bot_url(client), bot.text_update(chat, "/111"))
    await settled(client, "zalo_bot", chat)
    assert bot.texts_to(chat)[-1].endswith("3. Nói chuyện với tư vấn viên\n"
                                           + client.app[TEXTS].render("utter_choose_by_number")[0].text)
    await bot.deliver(bot_url(client), bot.text_update(chat, "nói chuyện với tư vấn viên"))  # the title works too
    await settled(client, "zalo_bot", chat)
    assert inbound(client, "zalo_bot", chat)[-1].text == "/request_human"


def test_zalo_channels_need_their_settings(settings: Settings) -> None:
    oa_without_secret = dataclasses.replace(settings, zalo_oa_access_token="t", zalo_oa_app_id="a")
    bot_without_base_url = dataclasses.replace(settings, zalo_bot_token="t", zalo_bot_webhook_secret="s" * 8)
    bot_short_secret = dataclasses.replace(settings, zalo_bot_token="t", zalo_bot_api_base_url="http://127.0.0.1:1",
                                           zalo_bot_webhook_secret="short")
    for incomplete in (settings, oa_without_secret, bot_without_base_url, bot_short_secret):
        assert set(build_app(incomplete)[CHANNELS]) == {"webchat"}


def test_numbered_choices_render() -> None:
    message = OutboundMessage.from_dicts("Chọn:", [{"title": "A", "payload": "/a"}, {"title": "B", "payload": "/b"}])
    assert with_numbered_choices(message.text, message.buttons, "Gõ số.") == "Chọn:\n\n1. A\n2. B\nGõ số."
    assert with_numbered_choices("Chỉ chữ", (), "Gõ số.") == "Chỉ chữ"


async def _contact(client: TestClient, channel: str, user: str):  # noqa: ANN202
    await settled(client, channel, user)
    contact = client.app[STORE].find_contact(channel, user)
    assert contact is not None
    return contact
