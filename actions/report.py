"""The report form's actions: thin wrappers around bot/reports.py (the logic) and the services.

validate_report_form          reads each answer (bot.reports.step): answer, skip, back, edit, or "not an
                              answer" (cancel, another question), which rejects the form so the rules in
                              nlu_data/report_rules.yml take the message
action_ask_confirm_report     the summary of the answers, with send / edit / cancel
action_report_start           the introduction, or "let's continue" for a report left half-way
action_report_pause           stops the form after an interruption and offers to continue (slots are kept)
action_cancel_report          stops the form and forgets the answers
action_submit_report          saves the report, opens a case for an urgent one, gives the code
action_check_report_status    the status of a report by its code (nothing else about it)
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActionExecutionRejected, ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.exc import SQLAlchemyError

from actions.services import contact_id, services
from bot import reports

log = logging.getLogger(__name__)
REQUESTED_SLOT = "requested_slot"
FORM = "report_form"


def said(tracker: Tracker) -> reports.Said:
    message = tracker.latest_message or {}
    intent = message.get("intent") or {}
    choice = next(tracker.get_latest_entity_values("choice"), None)
    return reports.Said(message.get("text") or "", intent.get("name"), float(intent.get("confidence") or 0.0),
                        str(choice) if choice is not None else None)


def clear_form() -> list[EventType]:
    return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None), *(SlotSet(slot, None) for slot in reports.FORM_SLOTS)]


def reports_service() -> tuple[reports.Reports, Any]:
    svc = services()
    return reports.Reports(svc.store, svc.handover), svc


class ValidateReportForm(FormValidationAction):
    def name(self) -> str:
        return "validate_report_form"

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        return reports.required_slots(tracker.slots)

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        slot = tracker.get_slot(REQUESTED_SLOT)
        message = said(tracker)
        # Only a message that Rasa put into the open question (from_text) is an answer; at activation or
        # on resuming there is none, and the form just asks its next question.
        if not slot or slot not in tracker.slots_to_validate():
            return await super().run(dispatcher, tracker, domain)
        step = reports.step(slot, message, tracker.slots)
        if step.reject:
            rejected: list[EventType] = [SlotSet(slot, None), ActionExecutionRejected(self.form_name())]
            if step.cancel:
                # "hủy" read by its words: cancel even if the classifier called it something else.
                rejected.append(FollowupAction("action_cancel_report"))
            return rejected
        for response in step.responses:
            dispatcher.utter_message(response=response)
        events: list[EventType] = [SlotSet(name, value) for name, value in step.updates.items()]
        tracker.add_slots(events)
        next_slot = await self.next_requested_slot(dispatcher, tracker, domain)
        return events + ([next_slot] if next_slot else [])


class ActionAskConfirmReport(Action):
    def name(self) -> str:
        return "action_ask_confirm_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        values = reports.summary(tracker.slots, domain.get("responses") or {})
        dispatcher.utter_message(response="utter_report_summary", **values)
        return []


class ActionReportStart(Action):
    def name(self) -> str:
        return "action_report_start"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        resuming = reports.in_progress(tracker.slots)
        dispatcher.utter_message(response="utter_report_resume" if resuming else "utter_report_intro")
        return []


class ActionReportPause(Action):
    def name(self) -> str:
        return "action_report_pause"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        paused = reports.in_progress(tracker.slots)
        dispatcher.utter_message(response="utter_report_paused" if paused else "utter_report_not_active")
        return [ActiveLoop(None), SlotSet(REQUESTED_SLOT, None)]


class ActionCancelReport(Action):
    def name(self) -> str:
        return "action_cancel_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        had_report = tracker.active_loop_name == FORM or reports.in_progress(tracker.slots)
        dispatcher.utter_message(response="utter_report_cancelled" if had_report else "utter_cancel_nothing")
        return clear_form()


class ActionSubmitReport(Action):
    def name(self) -> str:
        return "action_submit_report"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        service, svc = reports_service()
        contact = contact_id(tracker.sender_id)
        try:
            submitted = service.submit(contact, tracker.slots)
        except SQLAlchemyError:
            log.exception("saving the report of contact %s failed", contact)
            dispatcher.utter_message(response="utter_report_not_saved")
            # The answers stay: "/report_incident" goes straight back to the summary to send again.
            return [SlotSet(reports.CONFIRM, None)]
        dispatcher.utter_message(response="utter_report_submitted", code=submitted.report.code)
        opened = submitted.escalation
        if opened is not None:
            if opened.created or opened.raised:
                await svc.announce_case(opened.escalation.id, opened.escalation.risk)
            on_duty = svc.handover.is_open()
            dispatcher.utter_message(response="utter_report_escalated" if on_duty else "utter_report_escalated_offline")
        elif submitted.report.consent_contact:
            dispatcher.utter_message(response="utter_report_next_steps_contact")
        else:
            dispatcher.utter_message(response="utter_report_next_steps_no_contact")
        return clear_form()


class ActionCheckReportStatus(Action):
    def name(self) -> str:
        return "action_check_report_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict) -> list[EventType]:
        typed = next(tracker.get_latest_entity_values("report_code"), None)
        code = reports.find_code(str(typed or "")) or reports.find_code(said(tracker).text)
        if code is None:
            dispatcher.utter_message(response="utter_ask_report_code")
            return []
        service, _svc = reports_service()
        status = service.status(code)
        response = f"utter_report_status_{status}" if status in reports.STATUSES else "utter_report_status_unknown"
        dispatcher.utter_message(response=response, code=code)
        return []
