"""The web chat and the pipeline behind it, on a real SQLite database, with and without Rasa."""

from __future__ import annotations

import asyncio
import dataclasses

from bot.config import Settings
from bot.gateway import PIPELINE, STORE, TEXTS
from tests.conftest import RasaServer, free_port
from tests.helpers import chat, gateway, new_user


def dead_rasa(settings: Settings) -> Settings:
    return dataclasses.replace(settings, rasa_url=f"http://127.0.0.1:{free_port()}", rasa_timeout_s=2)


async def test_distress_gets_safe_reply_with_111_when_rasa_is_down(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        replies = await chat(client, new_user(), "ko muon song nua")
        text = " ".join(r["text"] for r in replies)
        assert "111" in text
        store = client.app[STORE]
        cases = client.app[PIPELINE].handover.cases()
        assert [(e.risk, e.reason) for e, _ in cases] == [("high", "safety")]
        assert store.unprocessed_inbound() == []  # the safety reply needs no Rasa: done


async def test_ordinary_message_when_rasa_is_down_gets_fallback_and_waits(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        replies = await chat(client, new_user(), "bắt nạt trên mạng là gì")
        assert any("111" in r["text"] for r in replies)
        assert len(client.app[STORE].unprocessed_inbound()) == 1  # kept for when Rasa is back


async def test_bad_requests_get_clear_errors(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        cases = [
            (b"not json", 400, "JSON"),
            (b"[1, 2]", 400, "object"),
            (b'{"user": "short", "text": "hi"}', 400, "user"),
            (b'{"user": "' + b"a" * 20 + b'", "text": ""}', 400, "text"),
            (b'{"user": "' + b"a" * 20 + b'", "text": "' + b"x" * 5000 + b'"}', 413, "longer"),
        ]
        for body, status, words in cases:
            response = await client.post("/webchat/api/messages", data=body,
                                         headers={"Content-Type": "application/json"})
            assert response.status == status
            assert words in (await response.json())["error"]
        response = await client.get("/webchat/api/messages", params={"user": new_user()})
        assert response.status == 404
        assert "unknown user" in (await response.json())["error"]


async def test_database_failure_still_gives_safe_reply(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        client.app[STORE].engine.dispose()
        # Point the store at a path that cannot exist: every write fails.
        from sqlalchemy import create_engine

        client.app[STORE].engine = create_engine("sqlite:////nonexistent/dir/x.db")
        client.app[STORE]._sessions.configure(bind=client.app[STORE].engine)
        response = await client.post("/webchat/api/messages", json={"user": new_user(), "text": "cuu em voi"})
        assert response.status == 503
        body = await response.json()
        assert "resend" in body["error"]
        assert any("111" in r["text"] for r in body["replies"])


async def test_conversation_through_rasa(settings: Settings, rasa_server: RasaServer) -> None:
    settings = dataclasses.replace(settings, rasa_url=rasa_server.url, database_url=rasa_server.database_url)
    async with gateway(settings) as client:
        user = new_user()
        greeting = await chat(client, user, "chào bạn")
        assert greeting and greeting[-1]["buttons"], greeting
        bullying = await chat(client, user, "mik bi ban trong lop chui tren group zalo, phai lam sao")
        assert any("bằng chứng" in r["text"].lower() or "chụp màn hình" in r["text"].lower() for r in bullying)
        hotline = await chat(client, user, "so tong dai tre em la bn")
        assert any("111" in r["text"] for r in hotline)


async def test_message_waiting_for_rasa_is_answered_when_rasa_is_back(
    settings: Settings, rasa_server: RasaServer
) -> None:
    settings = dataclasses.replace(dead_rasa(settings), database_url=rasa_server.database_url)
    async with gateway(settings) as client:
        user = new_user()
        await chat(client, user, "có người lạ trên mạng cứ đòi kết bạn và hỏi địa chỉ nhà em")
        store, pipeline = client.app[STORE], client.app[PIPELINE]
        contact = store.find_contact("webchat", user)
        waiting = [i for i in store.unprocessed_inbound() if store.message(i).contact_id == contact.id]
        assert len(waiting) == 1
        pipeline.rasa.base_url = rasa_server.url  # Rasa is back
        for message_id in waiting:
            await pipeline.process(message_id)
        assert store.message(waiting[0]).status == "processed"
        response = await client.get("/webchat/api/messages", params={"user": user, "after": "0"})
        texts = [m["text"] for m in (await response.json())["messages"] if m["from"] == "bot"]
        fallback = [r.text for r in client.app[TEXTS].render("utter_safe_fallback")]
        assert texts[: len(fallback)] == fallback  # first the safe reply, at once
        assert len(texts) > len(fallback)  # then Rasa's real answer, once it was back


async def test_abuse_disclosure_gets_the_abuse_reply_and_a_case(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        replies = await chat(client, new_user(), "nó đòi e gửi thêm ảnh nóng ko thì tung lên mạng")
        expected = [r.text for r in client.app[TEXTS].render("utter_safety_abuse")]
        assert [r["text"] for r in replies][: len(expected)] == expected
        assert "tự tử" not in " ".join(r["text"] for r in replies)
        (case, _contact), = client.app[PIPELINE].handover.cases()
        assert case.risk == "high" and "sextortion" in case.signals


async def test_a_failed_attempt_is_retried_by_the_sweeper(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        pipeline = client.app[PIPELINE]
        real_assess = pipeline.screen.assess
        calls = []

        def fails_once(text: str, history=()):  # noqa: ANN001, ANN202 - an injected transient fault
            calls.append(text)
            if len(calls) == 1:
                raise RuntimeError("transient fault")
            return real_assess(text, history)

        pipeline.screen.assess = fails_once
        fallback = [m.text for m in client.app[TEXTS].render("utter_safe_fallback")]
        user = new_user()
        response = await client.post("/webchat/api/messages", json={"user": user, "text": "ko muon song nua"})
        assert response.status == 202
        for _ in range(100):  # the sweeper runs every 5 s
            response = await client.get("/webchat/api/messages", params={"user": user, "after": "0"})
            replies = [m for m in (await response.json())["messages"] if m["from"] != "child"]
            if len(calls) == 2 and len(replies) > len(fallback):  # the safe reply at once, then the retry's
                break
            await asyncio.sleep(0.1)
        assert len(calls) == 2
        assert any("111" in r["text"] for r in replies)
        assert [r["text"] for r in replies[: len(fallback)]] == fallback


async def test_a_message_that_always_fails_still_gets_a_safe_reply_once(settings: Settings) -> None:
    async with gateway(dead_rasa(settings)) as client:
        pipeline = client.app[PIPELINE]

        def always_fails(text: str, history=()):  # noqa: ANN001, ANN202 - an injected lasting fault
            raise RuntimeError("a bug")

        pipeline.screen.assess = always_fails
        user = new_user()
        for text in ("ko muon song nua", "alo"):
            response = await client.post("/webchat/api/messages", json={"user": user, "text": text})
            assert response.status == 202
        await asyncio.wait_for(pipeline.drained(), 10)
        store = client.app[STORE]
        for message_id in store.unprocessed_inbound():  # what the sweeper does every 5 s
            pipeline.enqueue(message_id, store.message(message_id).contact_id)
        await asyncio.wait_for(pipeline.drained(), 10)
        response = await client.get("/webchat/api/messages", params={"user": user, "after": "0"})
        replies = [m["text"] for m in (await response.json())["messages"] if m["from"] != "child"]
        safe = [m.text for m in client.app[TEXTS].render("utter_safe_fallback")]
        assert replies == safe + safe  # one safe reply (with 111) per message, not one per retry
