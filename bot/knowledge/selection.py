"""Which knowledge-base answer a parsed message gets.

DIET decides whether the message is a topic question at all (one of the topic intents); Rasa's
ResponseSelector ranks every sub-question of every topic ("ask_sextortion/should_i_pay") and its best one is
answered, even when it belongs to a neighbouring topic: on the conversation tests (an author who wrote no
training data) the selector's first choice was right more often than DIET's topic (README, "Knowledge
base"). When the selector is unsure, the general answer of DIET's topic is safer than a wrong specific one.
A button sends its sub-question as the ``subtopic`` entity.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

SUBTOPIC_ENTITY = "subtopic"
APP_ENTITY = "app"
GENERAL = "general"
# The selector's confidence (softmax over all sub-questions) its first choice needs; below it the topic's
# general answer (set on the conversation tests, tests/conversation_tests/knowledge.yml).
MIN_CONFIDENCE = 0.05
# A topic the conversation is already about ("có nên chuyển tiền ko??" after a threat to post photos) keeps
# its best sub-question when that one has at least this share of the overall first choice's confidence.
CONTEXT_RATIO = 0.25
# Without such a topic, DIET's own topic for the message does the same at a stricter share: a neighbour's
# sub-question only a little ahead does not win ("đăng video lên tiktok ... comment chê" is bullying, not a
# photo posted without consent), but a clear first choice does ("bị ai đó lấy mất nick tiktok", read by DIET
# as a scam, still gets account recovery). Dev: 186 -> 188 of 228 (0.25 gave 187; 191 with the rule below).
DIET_TOPIC_RATIO = 0.5
# When the first choice is a topic's general answer and one of the topic's own sub-questions is nearly as
# likely, the specific answer is the better bet: the general one is the catch-all ("làm sao để tài khoản tiktok
# của e ở chế độ riêng tư": general 0.37, make_account_private 0.34). Dev: 187 -> 190 of 228.
SPECIFIC_OVER_GENERAL = 0.6
# The safety screen's signals that name a topic: a message answered by the gateway's safety reply never
# reaches Rasa, but the next question is about the same thing.
SIGNAL_TOPICS: dict[str, str] = {
    "sextortion": "ask_sextortion",
    "secret_meeting": "ask_grooming",
    "grooming_pressure": "ask_grooming",
    "trafficking_or_lure": "ask_grooming",
    "bullied": "ask_bullying",
}
# Which platform how-to (howto.yml) completes which sub-question's answer.
HOWTO_TASKS: dict[str, tuple[str, ...]] = {
    "ask_bullying/how_to_block_report": ("block", "report"),
    "ask_grooming/how_to_block_report": ("block", "report"),
    "ask_harmful_content/how_to_report_content": ("report",),
    "ask_privacy/make_account_private": ("make_private",),
    "ask_privacy/turn_on_2fa": ("two_step",),
    "ask_privacy/account_hacked_recover": ("recover_account", "two_step"),
    "ask_privacy/strong_password": ("two_step",),
    "ask_privacy/same_password_elsewhere": ("two_step",),
    "ask_scam/gave_otp_password": ("recover_account", "two_step"),
    "parent_guidance/parental_controls_setup": ("parental_controls",),
}


class ChosenBy(str, Enum):
    BUTTON = "button"
    SELECTOR = "selector"
    GENERAL = "general"  # the selector was unsure or had nothing for this topic


@dataclass(frozen=True)
class AnswerChoice:
    key: str  # "ask_sextortion/should_i_pay"
    chosen_by: ChosenBy
    confidence: float | None = None  # the selector's confidence in it

    @property
    def response(self) -> str:
        return f"utter_{self.key}"

    @property
    def intent(self) -> str:
        return self.key.split("/", 1)[0]


def general_key(intent: str) -> str:
    return f"{intent}/{GENERAL}"


def entity_value(parse_data: dict[str, Any], entity: str) -> str | None:
    for found in parse_data.get("entities") or ():
        if found.get("entity") == entity and isinstance(found.get("value"), str):
            return found["value"]
    return None


def topic_of_signals(signals: list[str] | tuple[str, ...]) -> str | None:
    return next((SIGNAL_TOPICS[s] for s in signals if s in SIGNAL_TOPICS), None)


def choose_answer(
    parse_data: dict[str, Any], intent: str, known_keys: frozenset[str], context: str | None = None
) -> AnswerChoice:
    """The sub-question to answer for topic `intent` (`known_keys` always holds its general key); `context`:
    the topic the conversation is about, if any (else `intent` is the topic to prefer)."""
    button = entity_value(parse_data, SUBTOPIC_ENTITY)
    if button and button.startswith(f"{intent}/") and button in known_keys:
        return AnswerChoice(button, ChosenBy.BUTTON)
    selector = (parse_data.get("response_selector") or {}).get("default") or {}
    ranking = [r for r in selector.get("ranking") or () if r.get("intent_response_key") in known_keys]
    if ranking:
        best = max(ranking, key=_confidence)
        preferred, ratio = (context, CONTEXT_RATIO) if context else (intent, DIET_TOPIC_RATIO)
        best = _close_enough(_best_of_topic(ranking, preferred), best, ratio)
        topic, _, key = str(best["intent_response_key"]).partition("/")
        if key == GENERAL:
            best = _close_enough(_best_of_topic(ranking, topic, but=best), best, SPECIFIC_OVER_GENERAL)
        confidence = _confidence(best)
        if confidence >= MIN_CONFIDENCE:
            return AnswerChoice(best["intent_response_key"], ChosenBy.SELECTOR, confidence)
        return AnswerChoice(general_key(intent), ChosenBy.GENERAL, confidence)
    return AnswerChoice(general_key(intent), ChosenBy.GENERAL)


def _confidence(entry: dict[str, Any]) -> float:
    return float(entry.get("confidence") or 0.0)


def _best_of_topic(
    ranking: list[dict[str, Any]], topic: str, but: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """The topic's most likely sub-question in the selector's ranking (other than `but`), if it has one."""
    entries = [r for r in ranking if r["intent_response_key"].startswith(f"{topic}/") and r is not but]
    return max(entries, key=_confidence, default=None)


def _close_enough(candidate: dict[str, Any] | None, best: dict[str, Any], ratio: float) -> dict[str, Any]:
    """`candidate` instead of `best` when it has at least `ratio` of best's confidence."""
    return candidate if candidate is not None and _confidence(candidate) >= ratio * _confidence(best) else best
