"""parent_guidance: general guidance, or the topic a parent picked from the buttons."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

PARENT_TOPICS = ("bullying", "grooming", "sextortion", "scam", "privacy", "harmful_content")


class ActionParentGuidance(Action):
    def name(self) -> str:
        return "action_parent_guidance"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        topic = next(tracker.get_latest_entity_values("topic"), None)
        if topic in PARENT_TOPICS:
            dispatcher.utter_message(response=f"utter_parent_{topic}")
        else:
            dispatcher.utter_message(response="utter_parent_guidance")
        return [SlotSet("topic", None)]
