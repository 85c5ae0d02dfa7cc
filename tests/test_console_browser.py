"""End to end, in a real browser (headless Debian chromium): a child on the web chat says she does not want
to live; a counsellor signed in to the console sees the case arrive live, takes it, answers; the child sees
the answer; the counsellor hands her back, and the assistant (the real Rasa) answers her again.

Writes docs/screenshots/console-queue.png and docs/screenshots/console-chat.png.
"""

from __future__ import annotations

import dataclasses
import secrets
from pathlib import Path
from typing import AsyncIterator

import pytest
from aiohttp import web

from bot.config import PROJECT_ROOT, Settings
from bot.console import accounts
from bot.gateway import PIPELINE, STORE, TEXTS, build_app
from tests.conftest import RasaServer, free_port

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
SCREENSHOTS = PROJECT_ROOT / "docs" / "screenshots"
PASSWORD = "mật-khẩu-đủ-dài-2"
TIMEOUT_MS = 30_000

pytestmark = pytest.mark.skipif(not CHROMIUM.exists(), reason="needs /usr/bin/chromium (bin/test installs it)")


@pytest.fixture
async def served(settings: Settings, rasa_server: RasaServer) -> AsyncIterator[tuple[str, web.Application]]:
    """The gateway on a real loopback port, with the real Rasa behind it."""
    port = free_port()
    settings = dataclasses.replace(settings, rasa_url=rasa_server.url, database_url=rasa_server.database_url,
                                   host="127.0.0.1", port=port)
    app = build_app(settings)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", app
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser():  # noqa: ANN201 - a playwright Browser
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        await chromium.close()


def first_line(app: web.Application, response: str, **values: str) -> str:
    return app[TEXTS].render(response, **values)[0].text


async def test_counsellor_takes_a_case_from_the_web_chat_and_hands_it_back(served, browser) -> None:  # noqa: ANN001
    from playwright.async_api import expect

    base, app = served
    username = "lan" + secrets.token_hex(4)  # the Rasa session's database is shared by several tests
    accounts.create(app[STORE], username, "Cô Lan", "counsellor", PASSWORD)
    counsellor_context = await browser.new_context(viewport={"width": 1280, "height": 800}, locale="vi-VN")
    child_context = await browser.new_context(viewport={"width": 420, "height": 760}, locale="vi-VN")
    console, child = await counsellor_context.new_page(), await child_context.new_page()
    console.set_default_timeout(TIMEOUT_MS)
    child.set_default_timeout(TIMEOUT_MS)
    console.on("dialog", lambda dialog: dialog.accept())  # "hand back?" confirmation

    # The counsellor signs in and waits on the live queue.
    await console.goto(base + "/console/")
    await console.fill("input[name=username]", username)
    await console.fill("input[name=password]", "wrong password!")
    await console.click("button[type=submit]")
    await expect(console.locator(".error.invalid")).to_be_visible()
    await console.fill("input[name=username]", username)
    await console.fill("input[name=password]", PASSWORD)
    await console.click("button[type=submit]")
    await console.wait_for_url(base + "/console/")
    await expect(console.locator("#live")).to_have_attribute("data-state", "on")

    # The child writes on the web chat and gets the safety reply at once.
    await child.goto(base + "/")
    await child.fill("#text", "ko muon song nua")
    await child.press("#text", "Enter")
    await expect(child.locator(".msg.bot", has_text=first_line(app, "utter_safety_high"))).to_be_visible()
    user = await child.evaluate("localStorage.getItem('webchat-user')")
    contact = app[STORE].find_contact("webchat", user)
    case = app[PIPELINE].handover.open_case_for(contact.id)

    # The case appears in the open console without a reload (server-sent events), with its risk.
    row = console.locator(f'#waiting tr[data-case="{case.id}"]')
    await expect(row).to_be_visible()
    await expect(row.locator(".badge")).to_have_text("Cao")
    await expect(row.locator(".chip").first).to_be_visible()
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await console.screenshot(path=str(SCREENSHOTS / "console-queue.png"), full_page=True)

    # Take it: the child is told who joined.
    await row.locator("button.claim").click()
    await console.wait_for_url(f"{base}/console/cases/{case.id}")
    await expect(console.locator("li.msg.flagged.risk-high", has_text="ko muon song nua")).to_be_visible()
    joined = first_line(app, "utter_handover_joined", counsellor_name="Cô Lan")
    await expect(child.locator(".msg.system", has_text=joined)).to_be_visible()

    # The counsellor answers; the child sees it, answers back, and the counsellor sees that live.
    answer = "Chào em, cô là Lan. Cô đang ở đây với em. Em có đang an toàn không?"
    await console.fill("#reply", answer)
    await console.click("#reply-form button[type=submit]")
    await expect(child.locator(".msg.counsellor", has_text=answer)).to_be_visible()
    bot_messages = await child.locator(".msg.bot").count()
    await child.fill("#text", "em đang ở nhà, em bị các bạn trong lớp tẩy chay")
    await child.press("#text", "Enter")
    await expect(console.locator("li.msg.in", has_text="em bị các bạn trong lớp tẩy chay")).to_be_visible()
    await console.fill("#note", "Bị tẩy chay ở lớp; đang ở nhà, an toàn.")
    await console.click("#note-form button[type=submit]")
    await expect(console.locator("#notes li", has_text="an toàn")).to_be_visible()
    await console.screenshot(path=str(SCREENSHOTS / "console-chat.png"))
    assert await child.locator(".msg.bot").count() == bot_messages  # the assistant stayed quiet

    # Hand back: the child is told, and the assistant answers her next message as usual.
    await console.click("#resolve")
    await expect(console.locator("#status")).to_have_attribute("data-status", "resolved")
    await expect(child.locator(".msg.system", has_text=first_line(app, "utter_handover_left"))).to_be_visible()
    buttons_before = await child.locator(".buttons").count()
    await child.fill("#text", "chào bạn")
    await child.press("#text", "Enter")
    await expect(child.locator(".buttons")).to_have_count(buttons_before + 1)  # Rasa's greeting and its topics
    assert app[STORE].contact_by_id(contact.id).state == "bot"
    assert app[PIPELINE].handover.escalation(case.id).first_reply_at is not None

    await counsellor_context.close()
    await child_context.close()


async def test_a_night_time_conversation_in_the_browser(settings: Settings, rasa_server: RasaServer,
                                                        browser) -> None:  # noqa: ANN001
    """02:10, nobody on duty: the child is answered every turn, builds a safety plan with the buttons, and the
    counsellor who opens the case in the morning reads the answers and the plan. Writes
    docs/screenshots/webchat-night.png, webchat-night-plan.png and console-bridge.png."""
    from playwright.async_api import expect

    port = free_port()
    night = dataclasses.replace(settings, rasa_url=rasa_server.url, database_url=rasa_server.database_url,
                                host="127.0.0.1", port=port, opening_hours="07:30-17:00",
                                opening_days=_another_day(settings.timezone))
    app = build_app(night)
    runner = web.AppRunner(app, shutdown_timeout=5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        child_context = await browser.new_context(viewport={"width": 420, "height": 1640}, locale="vi-VN")
        child = await child_context.new_page()
        child.set_default_timeout(TIMEOUT_MS)
        await child.goto(base + "/")

        async def says(text: str) -> None:
            await child.fill("#text", text)
            await child.press("#text", "Enter")

        async def presses(title: str) -> None:
            await child.locator(".buttons button", has_text=title).last.click()

        async def sees(response: str) -> None:
            first = app[PIPELINE].bridge.notices.render(response)[0].text  # may name the opening hours
            await expect(child.locator(".msg.bot", has_text=first).last).to_be_visible()

        assert app[PIPELINE].handover.is_open() is False
        await says("e ko muốn sống nữa")
        await sees("utter_safety_high")
        await sees("utter_handover_offline")
        # (typed or pressed, what the child does; the reply that must follow)
        check = [("Có", True, "utter_check_thinking_yes"), ("Chưa", True, "utter_check_plan_no"),
                 ("Mình an toàn", True, "utter_check_safe")]
        plan = [("Lập kế hoạch an toàn", True, "utter_plan_warning_signs"),
                ("mất ngủ, khóc nhiều", False, "utter_plan_calming"),
                ("nghe nhạc, ôm con mèo", False, "utter_plan_people"),
                ("chị họ, cô chủ nhiệm", False, "utter_plan_safe_place"),
                ("Mình sẽ nhờ người lớn", True, "utter_plan_help")]
        for steps, screenshot in ((check, "webchat-night.png"), (plan, None)):
            for action, is_button, response in steps:
                await (presses if is_button else says)(action)
                await sees(response)
            if screenshot:
                SCREENSHOTS.mkdir(parents=True, exist_ok=True)
                await child.screenshot(path=str(SCREENSHOTS / screenshot))
        await presses("Xong")
        await expect(child.locator(".msg.bot", has_text="nghe nhạc, ôm con mèo")).to_be_visible()
        await child.screenshot(path=str(SCREENSHOTS / "webchat-night-plan.png"))

        # In the morning a counsellor opens the case: the answers and the plan are in the case file.
        user = await child.evaluate("localStorage.getItem('webchat-user')")
        contact = app[STORE].find_contact("webchat", user)
        case = app[PIPELINE].handover.open_case_for(contact.id)
        username = "hoa" + secrets.token_hex(4)
        accounts.create(app[STORE], username, "Cô Hoa", "counsellor", PASSWORD)
        console_context = await browser.new_context(viewport={"width": 1280, "height": 1000}, locale="vi-VN")
        console = await console_context.new_page()
        console.set_default_timeout(TIMEOUT_MS)
        await console.goto(base + "/console/login")
        await console.fill("input[name=username]", username)
        await console.fill("input[name=password]", PASSWORD)
        await console.click("button[type=submit]")
        await console.wait_for_url(base + "/console/")
        await console.goto(f"{base}/console/cases/{case.id}")
        await expect(console.locator("#bridge-plan", has_text="chị họ, cô chủ nhiệm")).to_be_visible()
        await expect(console.locator("#bridge-answers", has_text="Đã nghĩ lúc nào, cách nào")).to_be_visible()
        await console.screenshot(path=str(SCREENSHOTS / "console-bridge.png"))
        await console_context.close()
        await child_context.close()
    finally:
        await runner.cleanup()


def _another_day(timezone: str) -> str:
    """An opening day that is not today (the day after tomorrow), so that it is out of hours whenever the
    test runs, whatever the wall clock says."""
    from datetime import datetime
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(timezone)).isoweekday()
    return str((today + 1) % 7 + 1)
