"""request_human: open a case for a counsellor. The gateway adds the notice that is true now (on duty, nobody
online, or out of hours with the hours: one place decides it) and keeps answering while the case waits."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.services import contact_id, services


class ActionRequestHuman(Action):
    def name(self) -> str:
        return "action_request_human"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        svc = services()
        contact = contact_id(tracker.sender_id)
        response = "utter_request_human"
        if contact is not None:
            risk = (tracker.latest_message.get("metadata") or {}).get("risk", "none")
            opened = svc.handover.open_escalation(contact, risk, "request_human")
            if opened.created or opened.raised:
                await svc.announce_case(opened.escalation.id, opened.escalation.risk)
            if not opened.created:
                response = "utter_handover_already_waiting"
        dispatcher.utter_message(response=response)
        return [ActiveLoop(None), SlotSet("requested_slot", None)]
