"""Topic questions answered from the knowledge base, for the child or the adult who is asking.

Thin: the choice of answer is bot.knowledge.selection's, the speaker and language cues bot.knowledge's; the
texts are the responses in nlu_data/answers/ (variations per audience and language) and bot/knowledge/howto.yml.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.forms import ValidationAction

from bot.knowledge.catalogue import keys, topics
from bot.knowledge.howto import Platform, howtos
from bot.knowledge.language import Language, detect_language
from bot.knowledge.selection import APP_ENTITY, HOWTO_TASKS, AnswerChoice, choose_answer, entity_value, general_key
from bot.knowledge.speaker import Audience, Speaker, detect_speaker, speaker_cues

TOPIC_INTENTS = topics()
GUIDANCE = "parent_guidance"
PARENTAL_CONTROLS = "parental_controls"
RECENT_USER_MESSAGES = 4  # where an app named a little earlier ("nick ff của e") is still found


def has_english(domain: dict[str, Any], response: str) -> bool:
    return any(
        any(c.get("name") == "language" and c.get("value") == Language.ENGLISH.value for c in v.get("condition") or ())
        for v in domain.get("responses", {}).get(response, ())
    )


def follow_up_response(key: str) -> str:
    return "utter_next_" + key.replace("/", "__")


def recent_user_texts(tracker: Tracker) -> list[str]:
    texts = [e.get("text") or "" for e in tracker.events if e.get("event") == "user"]
    return texts[-RECENT_USER_MESSAGES:][::-1]


class ActionAnswer(Action):
    def name(self) -> str:
        return "action_answer"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        parse = tracker.latest_message or {}
        intent = (parse.get("intent") or {}).get("name") or ""
        if intent not in TOPIC_INTENTS:
            dispatcher.utter_message(response="utter_default")
            return []
        choice = choose_answer(parse, intent, keys(), tracker.get_slot("context_topic"))
        english = tracker.get_slot("language") == Language.ENGLISH.value
        if english and not has_english(domain, choice.response):
            choice = AnswerChoice(general_key(choice.intent), choice.chosen_by, choice.confidence)
        tasks = HOWTO_TASKS.get(choice.key, ())
        app_button = entity_value(parse, APP_ENTITY)
        if tasks and app_button and not english:
            # The child picked the app after the answer: only the steps, the answer is already above.
            self._utter_steps(dispatcher, tasks, app_button)
            return [SlotSet("last_answer", f"{choice.key}@{app_button}"), SlotSet("context_topic", choice.intent)]
        if choice.key == tracker.get_slot("last_answer"):
            # The same question again: the same text again would not help; offer the next steps instead.
            dispatcher.utter_message(response="utter_answer_again")
            return [SlotSet("last_answer", None), SlotSet("context_topic", choice.intent)]
        dispatcher.utter_message(response=choice.response)
        if tasks and not english:
            self._utter_app_help(dispatcher, tracker, tasks, choice)
        elif not english and tracker.get_slot("audience") != Audience.ADULT.value and choice.intent != GUIDANCE:
            # The follow-ups speak to a child; parent_guidance's speak to a parent.
            follow_up = follow_up_response(choice.key)
            if follow_up in domain.get("responses", {}):
                dispatcher.utter_message(response=follow_up)  # "Bạn đã chặn người đó chưa?" with buttons
        return [SlotSet("last_answer", choice.key), SlotSet("context_topic", choice.intent)]

    def _utter_app_help(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, tasks: tuple[str, ...], choice: AnswerChoice
    ) -> None:
        guide = howtos()
        if PARENTAL_CONTROLS in tasks:
            control = next(filter(None, (guide.find_control(t) for t in recent_user_texts(tracker))), None)
            if control is not None:
                dispatcher.utter_message(text=guide.parental_controls[control][1])
            else:
                dispatcher.utter_message(response="utter_which_device", buttons=self._buttons(
                    choice, [(key, name) for key, (name, _) in guide.parental_controls.items()]))
            return
        platform = next(filter(None, (guide.find_platform(t) for t in recent_user_texts(tracker))), None)
        if platform is not None:
            self._utter_steps(dispatcher, tasks, platform.key)
        else:
            dispatcher.utter_message(response="utter_which_app", buttons=self._buttons(
                choice, [(p.key, p.name) for p in guide.platforms_for(tasks)]))

    @staticmethod
    def _utter_steps(dispatcher: CollectingDispatcher, tasks: tuple[str, ...], app: str) -> None:
        guide = howtos()
        if app in guide.parental_controls:
            dispatcher.utter_message(text=guide.parental_controls[app][1])
            return
        platform: Platform | None = guide.platforms.get(app)
        steps = guide.steps(platform, tasks) if platform else []
        for text in steps:
            dispatcher.utter_message(text=text)
        if not steps:
            dispatcher.utter_message(response="utter_app_unknown")

    @staticmethod
    def _buttons(choice: AnswerChoice, apps: list[tuple[str, str]]) -> list[dict[str, str]]:
        return [
            {"title": name, "payload": f'/{choice.intent}{{"subtopic":"{choice.key}","app":"{key}"}}'}
            for key, name in apps
        ]


class ValidateSlotMappings(ValidationAction):
    """Fills the conversation's speaker, audience, address and language from each message (custom mappings)."""

    def name(self) -> str:
        return "action_validate_slot_mappings"

    def _speaker(self, tracker: Tracker) -> tuple[Speaker, str | None]:
        current = Speaker(tracker.get_slot("speaker") or Speaker.CHILD.value)
        cue = detect_speaker((tracker.latest_message or {}).get("text") or "")
        if cue is not None:
            return cue.speaker, cue.address
        if current.is_adult:
            return current, tracker.get_slot("address")
        intent = ((tracker.latest_message or {}).get("intent") or {}).get("name")
        if intent == GUIDANCE or tracker.get_slot("reporter_role") == "parent_teacher":
            return Speaker.PARENT, tracker.get_slot("address") or speaker_cues().default_address[Speaker.PARENT]
        return Speaker.CHILD, None

    async def extract_speaker(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        speaker, address = self._speaker(tracker)
        audience = Audience.ADULT if speaker.is_adult else Audience.CHILD
        return {"speaker": speaker.value, "audience": audience.value, "address": address}

    async def extract_audience(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        return {}  # set with the speaker

    async def extract_address(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        return {}  # set with the speaker

    async def extract_last_answer(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        return {}  # action_answer's own

    async def extract_context_topic(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        return {}  # action_answer's own, or the gateway's after a safety reply

    async def extract_language(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        text = (tracker.latest_message or {}).get("text") or ""
        found = None if text.startswith("/") else detect_language(text)  # a button's payload is no language
        return {"language": (found or Language(tracker.get_slot("language") or "vi")).value}
