"""Truthful handover notices: what the child is told about counsellors depends on who can answer now.

On duty: "a counsellor will join soon". In hours with nobody signed in: the hours, and that the message is
read as soon as someone signs in. Out of hours: the hours and when the case will be read. 111 always.
Used by the gateway (bridging mode, reminders) and by the action server (request_human).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from bot.bridge.phrases import Phrases, default_phrases
from bot.handover import Duty, Handover
from bot.knowledge.language import Language
from bot.messages import OutboundMessage
from bot.store import utcnow
from bot.texts import Texts

STATUS_RESPONSES = {
    Duty.ON_DUTY: "utter_handover_calling",
    Duty.NOBODY_ONLINE: "utter_handover_nobody_online",
    Duty.CLOSED: "utter_handover_offline",
}


def clock(value: time) -> str:
    return f"{value.hour}:{value.minute:02d}"


class HandoverNotices:
    def __init__(self, texts: Texts, handover: Handover, phrases: Phrases | None = None) -> None:
        self.texts = texts
        self.handover = handover
        self.phrases = phrases or default_phrases()

    def hours(self) -> str:
        """"7:30–17:00, thứ Hai đến thứ Sáu" from the configured opening hours."""
        settings = self.handover.settings
        start, end = settings.opening_window()
        days = sorted(settings.opening_weekdays())
        if len(days) == 7:
            span = self.phrases.label("every_day")
        elif len(days) == 1:
            span = self.phrases.weekday(days[0])
        else:
            span = self.phrases.label("days_range").format(
                first=self.phrases.weekday(days[0]), last=self.phrases.weekday(days[-1]))
        return f"{clock(start)}–{clock(end)}, {span}"

    def next_open(self, now: datetime | None = None) -> str:
        """"sáng mai lúc 7:30", "thứ Hai lúc 7:30", "hôm nay lúc 7:30"."""
        now = now or utcnow()
        opens = self.handover.next_opening(now)
        local_today = now.astimezone(opens.tzinfo).date()
        at = clock(opens.time())
        if opens.date() == local_today:
            return self.phrases.label("opens_today").format(time=at)
        if opens.date() == local_today + timedelta(days=1):
            return self.phrases.label("opens_tomorrow").format(time=at)
        return self.phrases.label("opens_on").format(weekday=self.phrases.weekday(opens.isoweekday()), time=at)

    def status(
        self, duty: Duty | None = None, now: datetime | None = None, language: Language | None = None
    ) -> list[OutboundMessage]:
        """The notice that is true now (in English for a child who writes English)."""
        duty = duty or self.handover.duty(now)
        return self.render(STATUS_RESPONSES[duty], now, language)

    def render(
        self, name: str, now: datetime | None = None, language: Language | None = None
    ) -> list[OutboundMessage]:
        """A response that may name the hours ({hours}) and the next opening ({next_open})."""
        return self.texts.render(name, language, hours=self.hours(), next_open=self.next_open(now))
