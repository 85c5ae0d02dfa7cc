"""request_human: open a case for a counsellor; the child is told what is true now (on duty, nobody online,
or out of hours with the hours), and the gateway's bridging mode keeps answering while the case waits."""

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
        first = "utter_request_human"
        if contact is not None:
            risk = (tracker.latest_message.get("metadata") or {}).get("risk", "none")
            opened = svc.handover.open_escalation(contact, risk, "request_human")
            if opened.created or opened.raised:
                await svc.announce_case(opened.escalation.id, opened.escalation.risk)
            if not opened.created:
                first = "utter_handover_already_waiting"
        for message in svc.texts.render(first) + svc.notices.status():
            dispatcher.utter_message(text=message.text, buttons=message.buttons_as_dicts() or None)
        return [ActiveLoop(None), SlotSet("requested_slot", None)]
