"""Incident reports without Rasa: reading answers, the form's steps, saving and looking up reports on
real SQLite and PostgreSQL, and the report actions run in-process against those databases."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml
from rasa_sdk import Tracker
from rasa_sdk.events import ActionExecutionRejected, ActiveLoop, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select, update

import actions.report as report_actions
from actions.services import Services
from bot import reports
from bot.config import PROJECT_ROOT, Settings
from bot.handover import Handover
from bot.reports import SKIPPED, Reports, Said, read, required_slots, step
from bot.safety import Screen
from bot.store import Escalation, Report, Store

DOMAIN = yaml.safe_load((PROJECT_ROOT / "domain.yml").read_text(encoding="utf-8"))
RESPONSES = DOMAIN["responses"]
CODE_FORMAT = re.compile(r"^BC-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$")


def typed(text: str, intent: str | None = None, confidence: float = 0.0) -> Said:
    return Said(text, intent, confidence)


def choose_payload(value: str) -> str:
    return '/choose{"choice":"' + value + '"}'


def button(value: str) -> Said:
    return Said(choose_payload(value), "choose", 1.0, value)


COMPLETE = {  # a whole report as the form holds it just before sending
    "reporter_role": "child", "age_band": "11_13", "category": "bullying", "child_safe_now": "yes",
    "ongoing": "no", "platform": "Zalo", "occurred_when": "hôm qua lúc 9h tối",
    "description": "mấy bạn trong lớp lập nhóm chửi mình", "consent_contact": "yes",
    "callback_phone": "0912345678", "consent_share": "unknown", "confirm_report": "send", "edit_field": None,
}


# -- reading answers ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("slot", "text", "value"),
    [
        ("reporter_role", "mik", "child"),
        ("reporter_role", "e", "child"),
        ("reporter_role", "toi", "child"),
        ("reporter_role", "bạn mình bị", "friend"),
        ("reporter_role", "tôi là mẹ của bé", "parent_teacher"),
        ("reporter_role", "con tôi", "parent_teacher"),
        ("age_band", "13t", "11_13"),
        ("age_band", "e 9 tuổi", "7_10"),
        ("age_band", "lớp 9", "14_15"),
        ("age_band", "dưới 7 tuổi", "under_7"),
        ("age_band", "16", "16_17"),
        ("age_band", "người lớn", "adult"),
        ("category", "nó dọa tung ảnh của e", "sextortion"),
        ("category", "bị chửi trên group lớp", "bullying"),
        ("category", "người lạ cứ rủ e đi gặp", "grooming"),
        ("category", "bi hack nick fb", "hacked_account"),
        ("category", "bị lừa nạp thẻ", "scam"),
        ("category", "có ng đăng ảnh nóng của bạn e", "sexual_content"),
        ("child_safe_now", "ko an toàn", "no"),
        ("child_safe_now", "an toan", "yes"),
        ("child_safe_now", "ko bít", "unknown"),
        ("ongoing", "vẫn còn nhắn", "yes"),
        ("ongoing", "hết rồi", "no"),
        ("platform", "fb", "Facebook"),
        ("platform", "zalo", "Zalo"),
        ("platform", "Zalô", "Zalo"),
        ("platform", "trên tiktok", "TikTok"),
        ("platform", "mess", "Messenger"),
        ("platform", "web truyện lạ", "web truyện lạ"),  # an app we don't know: kept as written
        ("occurred_when", "hôm qua lúc 9h tối", "hôm qua lúc 9h tối"),
        ("description", "nó bảo e ko được kể với ai", "nó bảo e ko được kể với ai"),
        ("consent_contact", "có", "yes"),
        ("consent_contact", "ko cần đâu", "no"),
        ("callback_phone", "0912 345 678", "0912345678"),
        ("callback_phone", "+84 912.345.678", "0912345678"),
        ("consent_share", "đồng ý", "yes"),
        ("consent_share", "ko đồng ý", "no"),
        ("consent_share", "chưa chắc", "unknown"),
        ("confirm_report", "gửi đi", "send"),
        ("confirm_report", "sai rồi", "edit"),
        ("edit_field", "tuổi", "age_band"),
        ("edit_field", "ứng dụng", "platform"),
    ],
)
def test_answers_are_read_however_they_are_typed(slot: str, text: str, value: str) -> None:
    assert read(slot, typed(text)) == reports.Reading("answer", value)


def test_yes_and_no_as_the_classifier_read_them() -> None:
    assert read("consent_contact", typed("uk dc á", "affirm", 0.95)).value == "yes"
    assert read("ongoing", typed("hông", "deny", 0.9)).value == "no"
    assert read("confirm_report", typed("chuẩn", "affirm", 0.9)).value == "send"
    # A yes/no is not an answer to "what happened?".
    assert read("category", typed("ừ", "affirm", 0.95)).kind == "unclear"


def test_buttons_give_their_value_and_a_stale_button_is_no_answer() -> None:
    assert read("category", button("grooming")) == reports.Reading("answer", "grooming")
    assert read("platform", button("Game online")) == reports.Reading("answer", "Game online")
    assert read("age_band", button("7_10")) == reports.Reading("answer", "7_10")
    assert read("age_band", button("grooming")).kind == "unclear"  # from an earlier question
    assert read("platform", button("grooming")).kind == "unclear"
    assert read("description", Said("/report_incident", "report_incident", 1.0)).kind == "unclear"


def test_phone_numbers_that_are_not_phone_numbers() -> None:
    assert read("callback_phone", typed("111")).kind == "unclear"  # the hotline is not a call-back number
    assert read("callback_phone", typed("abc")).kind == "unclear"
    assert read("callback_phone", typed("ko", "deny", 0.9)).kind == "skip"


@pytest.mark.parametrize(
    ("text", "intent", "kind"),
    [
        ("bỏ qua", None, "skip"),
        ("bo qua nha", None, "skip"),
        ("bỏ qua đi", "cancel", "skip"),  # in the form, "bỏ qua đi" skips, whatever the classifier says
        ("/skip", "skip", "skip"),
        ("quay lại", None, "go_back"),
        ("/go_back", "go_back", "go_back"),
        ("hủy", None, "cancel"),
        ("/cancel", "cancel", "cancel"),
        ("thôi ko khai nữa", "cancel", "cancel"),
    ],
)
def test_control_words(text: str, intent: str | None, kind: str) -> None:
    assert read("platform", Said(text, intent, 1.0 if intent else 0.0)).kind == kind


def test_another_question_interrupts_but_a_description_is_an_answer() -> None:
    assert read("age_band", typed("số tổng đài là bao nhiêu", "ask_hotline", 0.93)).kind == "interrupt"
    assert read("category", typed("hi", "greet", 0.9)).kind == "interrupt"
    assert read("description", typed("số tổng đài là bao nhiêu", "ask_hotline", 0.93)).kind == "interrupt"
    # A description is often classified as a topic: it is still the description.
    story = "nó dọa tung ảnh nếu e ko chuyển tiền"
    assert read("description", typed(story, "ask_sextortion", 0.97)) == reports.Reading("answer", story)
    # A long message classified as "cancel" is not a cancel while free text is asked.
    long_text = "bạn ấy bảo mình dừng lại không được kể với ai"
    assert read("description", typed(long_text, "cancel", 0.8)).kind == "answer"


def test_dont_know_is_a_choice_where_there_is_one_and_a_skip_elsewhere() -> None:
    assert read("child_safe_now", typed("ko biết")).value == "unknown"
    assert read("age_band", typed("ko biết")).kind == "skip"
    assert read("platform", typed("ko nhớ")).kind == "skip"
    assert read("description", typed("e ko biết nó là ai, nó cứ nhắn")).kind == "answer"


# -- the form's steps -------------------------------------------------------------------------------------
def test_call_back_number_is_offered_only_to_someone_who_wants_contact() -> None:
    assert "callback_phone" not in required_slots({"consent_contact": "no"})
    assert "callback_phone" not in required_slots({"consent_contact": SKIPPED})
    slots = required_slots({"consent_contact": "yes"})
    assert slots.index("callback_phone") == slots.index("consent_contact") + 1
    assert "edit_field" not in slots and "edit_field" in required_slots({"confirm_report": "edit"})
    # Changing one's mind drops a number already given.
    assert step("consent_contact", button("no"), {}).updates == {"consent_contact": "no", "callback_phone": None}


def test_skip_back_and_unclear() -> None:
    assert step("platform", typed("bỏ qua"), {}).updates == {"platform": SKIPPED}
    assert step("platform", typed("quay lại"), {}).updates == {"platform": None, "ongoing": None}
    # Back from the question after the call-back number asks for the number again.
    assert step("consent_share", typed("quay lại"), {"consent_contact": "yes"}).updates == {
        "consent_share": None, "callback_phone": None}
    assert step("reporter_role", typed("quay lại"), {}).updates == {"reporter_role": None}  # nothing before
    unclear = step("category", typed("hmm"), {})
    assert unclear.updates == {"category": None} and unclear.responses == ("utter_report_unclear",)
    assert step("confirm_report", typed("bỏ qua"), {}).responses == ("utter_report_unclear",)  # must choose


def test_advice_fits_the_category_and_an_unsafe_child_is_told_what_to_do_now() -> None:
    assert step("category", button("sextortion"), {}).responses == ("utter_report_advice_sextortion",)
    assert step("child_safe_now", typed("ko an toàn"), {}).responses == ("utter_report_unsafe_now",)
    assert step("child_safe_now", typed("an toàn"), {}).responses == ()


def test_correcting_an_answer_from_the_summary() -> None:
    edit = step("confirm_report", button("edit"), COMPLETE)
    assert edit.updates == {"confirm_report": "edit"}  # then "which answer?"
    picked = step("edit_field", button("age_band"), {**COMPLETE, "confirm_report": "edit"})
    assert picked.updates == {"age_band": None, "confirm_report": None, "edit_field": None}
    # Typed at the summary, "sửa tuổi" goes straight to the age question.
    assert step("confirm_report", typed("sửa tuổi"), COMPLETE).updates == picked.updates
    # "Không sửa gì" at the field picker goes back to the summary.
    assert step("edit_field", Said("/skip", "skip", 1.0), COMPLETE).updates == {
        "edit_field": None, "confirm_report": None}
    # Changing "contacted?" asks for the number again if they still want a call.
    assert step("edit_field", button("consent_contact"), COMPLETE).updates["callback_phone"] is None


def test_cancel_and_interruptions_are_handed_to_the_rules() -> None:
    cancel = step("age_band", typed("hủy"), {})
    assert cancel.reject and cancel.cancel and cancel.updates == {"age_band": None}
    other = step("age_band", typed("số tổng đài là gì", "ask_hotline", 0.9), {})
    assert other.reject and not other.cancel


def test_summary_uses_the_words_on_the_buttons() -> None:
    values = reports.summary({**COMPLETE, "occurred_when": "yesterday", "ongoing": SKIPPED}, RESPONSES)
    assert values["who"] == "Với mình"
    assert values["what"] == "Bị bắt nạt, chửi bới, bêu xấu"
    assert values["when"] == "Hôm qua"
    assert values["still"] == "(bỏ qua)"
    assert values["phone"] == "0912345678"
    assert values["share"] == "Mình chưa chắc"
    assert reports.summary({**COMPLETE, "consent_contact": "no"}, RESPONSES)["phone"] == "(không có)"
    placeholders = set(re.findall(r"{(\w+)}", RESPONSES["utter_report_summary"][0]["text"]))
    assert placeholders == set(values)


# -- domain.yml and the logic agree ------------------------------------------------------------------------
def test_every_button_of_the_form_is_an_answer_to_its_question() -> None:
    for slot in reports.FORM_SLOTS:
        variant = RESPONSES.get(f"utter_ask_{slot}", [None])[0] or RESPONSES["utter_report_summary"][0]
        for b in variant.get("buttons", []):
            payload = b["payload"].replace("{{", "{").replace("}}", "}")
            choice = reports.CHOICE_RE.search(payload)
            intent = payload[1:].split("{")[0]
            said = Said(payload, intent, 1.0, choice.group(1) if choice else None)
            assert read(slot, said).kind in ("answer", "skip", "go_back", "cancel"), (slot, b)


def test_every_category_has_advice_and_every_status_an_answer() -> None:
    categories = [value for value, _ in reports.CHOICES["category"]]
    assert {f"utter_report_advice_{c}" for c in categories} <= set(RESPONSES)
    assert {f"utter_report_status_{s}" for s in (*reports.STATUSES, "unknown")} <= set(RESPONSES)


def test_form_buttons_never_trip_the_safety_screen() -> None:
    """Buttons carry values, not words: "Bị dọa tung ảnh" pressed is not a disclosure to screen again."""
    screen = Screen.from_file()
    payloads = {b["payload"].replace("{{", "{").replace("}}", "}")
                for name, variants in RESPONSES.items() if name.startswith(("utter_ask_", "utter_report_"))
                for b in variants[0].get("buttons", [])}
    assert len(payloads) > 40
    assert {p: screen.assess(p).risk for p in payloads} == {p: "none" for p in payloads}


# -- codes, saving and looking up -------------------------------------------------------------------------
def test_codes_use_an_unambiguous_alphabet_and_are_found_however_typed() -> None:
    codes = {reports.new_code() for _ in range(200)}
    assert len(codes) == 200 and all(CODE_FORMAT.match(c) for c in codes)
    assert reports.find_code("mã e là bc-7k3p9q nha") == "BC-7K3P9Q"
    assert reports.find_code("BC7K3P9Q sao rồi") == "BC-7K3P9Q"
    assert reports.find_code("báo cáo của e tới đâu rồi") is None


def test_report_keeps_only_the_forms_fields(any_store: Store, settings: Settings) -> None:
    contact = any_store.contact("webchat", "reporter-1")
    answers = {**COMPLETE, "ongoing": SKIPPED, "consent_share": "unknown", "topic": "ignored"}
    submitted = Reports(any_store, Handover(any_store, settings)).submit(contact.id, answers)
    assert submitted.escalation is None  # bullying, safe, over: a counsellor reviews it in turn
    with any_store.session() as s:
        row = s.scalars(select(Report).where(Report.code == submitted.report.code)).one()
    assert CODE_FORMAT.match(row.code) and row.contact_id == contact.id and row.status == "new"
    assert (row.reporter_role, row.category, row.age_band, row.platform) == ("child", "bullying", "11_13", "Zalo")
    assert row.ongoing is None  # skipped
    assert row.consent_contact is True and row.consent_share is None and row.callback_phone == "0912345678"
    assert row.occurred_when == "hôm qua lúc 9h tối" and row.description == COMPLETE["description"]


def test_no_call_back_number_without_consent_to_contact(any_store: Store, settings: Settings) -> None:
    answers = {**COMPLETE, "consent_contact": "no", "callback_phone": "0912345678"}
    report = Reports(any_store, Handover(any_store, settings)).submit(None, answers).report
    assert report.consent_contact is False and report.callback_phone is None


@pytest.mark.parametrize(
    "urgent",
    [{"category": "grooming"}, {"category": "sextortion"}, {"category": "sexual_content"},
     {"child_safe_now": "no"}, {"ongoing": "yes"}],
)
def test_urgent_report_opens_a_high_risk_case_linked_to_it(
    any_store: Store, settings: Settings, urgent: dict[str, str]
) -> None:
    contact = any_store.contact("webchat", "reporter-urgent")
    submitted = Reports(any_store, Handover(any_store, settings)).submit(contact.id, {**COMPLETE, **urgent})
    assert submitted.escalation is not None and submitted.escalation.created
    case = Handover(any_store, settings).open_case_for(contact.id)
    assert (case.risk, case.reason, case.report_id) == ("high", "report", submitted.report.id)
    assert any_store.contact_by_id(contact.id).state == "waiting_human"


def test_status_by_code_and_a_taken_code_is_drawn_again(
    any_store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    service = Reports(any_store, Handover(any_store, settings))
    first = service.submit(None, COMPLETE).report
    assert service.status(first.code) == "new" and service.status("BC-2222ZZ") is None
    with any_store.session() as s:
        s.execute(update(Report).where(Report.id == first.id).values(status="referred"))
    assert service.status(first.code) == "referred"
    draws = iter([first.code, "BC-23456A"])
    monkeypatch.setattr(reports, "new_code", lambda: next(draws))
    assert service.submit(None, COMPLETE).report.code == "BC-23456A"


# -- the actions, in-process, on the real databases ----------------------------------------------------------
@pytest.fixture
def action_services(any_store: Store, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Services:
    """The action server's services on the test database (the server builds them from settings)."""
    svc = Services.build(settings, any_store)
    monkeypatch.setattr(report_actions, "services", lambda: svc)
    return svc


def tracker(sender: str, slots: dict[str, Any], text: str = "", intent: str | None = None,
            answered: str | None = None, entities: list[dict] | None = None) -> Tracker:
    events = [{"event": "action", "name": "report_form"}]
    if answered:  # what Rasa's from_text mapping put into the open question
        events.append({"event": "slot", "name": answered, "value": text})
    return Tracker(
        sender, {**slots, **({answered: text} if answered else {})},
        {"text": text, "intent": {"name": intent, "confidence": 1.0 if intent else 0.0},
         "entities": entities or []},
        events, False, None, {"name": "report_form"}, "report_form",
    )


async def run(action: Any, track: Tracker) -> tuple[list[dict], list[dict]]:
    dispatcher = CollectingDispatcher()
    events = await action.run(dispatcher, track, DOMAIN)
    return events, dispatcher.messages


async def test_validate_reads_an_answer_and_asks_the_next_question(action_services: Services) -> None:
    slots = {"requested_slot": "category", "reporter_role": "child", "age_band": "14_15"}
    events, messages = await run(report_actions.ValidateReportForm(), tracker(
        "1", slots, '/choose{"choice":"sextortion"}', "choose", answered="category",
        entities=[{"entity": "choice", "value": "sextortion"}]))
    assert SlotSet("category", "sextortion") in events
    assert [m["response"] for m in messages] == ["utter_report_advice_sextortion"]


async def test_validate_hands_a_cancel_to_the_cancel_action(action_services: Services) -> None:
    slots = {"requested_slot": "age_band", "reporter_role": "child"}
    events, messages = await run(report_actions.ValidateReportForm(), tracker(
        "1", slots, "hủy", "deny", answered="age_band"))
    assert events == [SlotSet("age_band", None), ActionExecutionRejected("report_form"),
                      FollowupAction("action_cancel_report")]
    assert messages == []


async def test_validate_asks_the_call_back_question_only_after_yes(action_services: Services) -> None:
    slots = {k: v for k, v in COMPLETE.items() if k in reports.FORM_SLOTS[:8]} | {"requested_slot": "consent_contact"}
    events, _ = await run(report_actions.ValidateReportForm(), tracker(
        "1", slots, '/choose{"choice":"yes"}', "choose", answered="consent_contact",
        entities=[{"entity": "choice", "value": "yes"}]))
    assert events[-1] == SlotSet("requested_slot", "callback_phone")
    events, _ = await run(report_actions.ValidateReportForm(), tracker(
        "1", slots, '/choose{"choice":"no"}', "choose", answered="consent_contact",
        entities=[{"entity": "choice", "value": "no"}]))
    assert events[-1] == SlotSet("requested_slot", "consent_share")


async def test_summary_action_fills_every_placeholder(action_services: Services) -> None:
    _events, messages = await run(report_actions.ActionAskConfirmReport(), tracker("1", COMPLETE))
    (message,) = messages
    assert message["response"] == "utter_report_summary"
    assert message["who"] == "Với mình" and message["details"] == COMPLETE["description"]


async def test_submit_saves_answers_gives_the_code_and_forgets_the_form(action_services: Services) -> None:
    store = action_services.store
    contact = store.contact("webchat", "reporter-action")
    events, messages = await run(report_actions.ActionSubmitReport(), tracker(str(contact.id), COMPLETE))
    code = messages[0]["code"]
    assert [m["response"] for m in messages] == ["utter_report_submitted", "utter_report_next_steps_contact"]
    with store.session() as s:
        row = s.scalars(select(Report).where(Report.code == code)).one()
    assert row.contact_id == contact.id and row.category == "bullying"
    assert ActiveLoop(None) in events
    assert {e["name"] for e in events if e.get("event") == "slot" and e["value"] is None} >= set(reports.FORM_SLOTS)


async def test_submit_of_an_urgent_report_calls_a_counsellor(action_services: Services) -> None:
    store = action_services.store
    contact = store.contact("webchat", "reporter-urgent-action")
    answers = {**COMPLETE, "category": "grooming", "consent_contact": "no"}
    _events, messages = await run(report_actions.ActionSubmitReport(), tracker(str(contact.id), answers))
    assert [m["response"] for m in messages] == ["utter_report_submitted", "utter_report_escalated"]
    with store.session() as s:
        case = s.scalars(select(Escalation).where(Escalation.contact_id == contact.id)).one()
        report = s.scalars(select(Report).where(Report.code == messages[0]["code"])).one()
    assert (case.risk, case.reason, case.report_id) == ("high", "report", report.id)


async def test_status_action_tells_the_status_only(action_services: Services, settings: Settings) -> None:
    report = Reports(action_services.store, action_services.handover).submit(None, COMPLETE).report
    text = f"mã {report.code.lower()} sao rồi"
    _events, messages = await run(report_actions.ActionCheckReportStatus(), tracker(
        "1", {}, text, "check_report_status",
        entities=[{"entity": "report_code", "value": report.code.lower()}]))
    assert messages == [{**messages[0], "response": "utter_report_status_new", "code": report.code}]
    assert COMPLETE["description"] not in str(messages)
    _events, messages = await run(report_actions.ActionCheckReportStatus(), tracker(
        "1", {}, "BC-2222ZZ", "check_report_status"))
    assert messages[0]["response"] == "utter_report_status_unknown"
    _events, messages = await run(report_actions.ActionCheckReportStatus(), tracker(
        "1", {}, "báo cáo của e tới đâu rồi", "check_report_status"))
    assert messages[0]["response"] == "utter_ask_report_code"


async def test_cancel_and_pause_say_what_happened(action_services: Services) -> None:
    half = {"reporter_role": "child", "age_band": "11_13"}
    events, messages = await run(report_actions.ActionCancelReport(), tracker("1", half))
    assert messages[0]["response"] == "utter_report_cancelled" and SlotSet("age_band", None) in events
    _events, messages = await run(report_actions.ActionCancelReport(), Tracker(
        "1", {}, {}, [], False, None, {}, "action_listen"))
    assert messages[0]["response"] == "utter_cancel_nothing"
    events, messages = await run(report_actions.ActionReportPause(), tracker("1", half))
    assert messages[0]["response"] == "utter_report_paused"
    assert ActiveLoop(None) in events and SlotSet("age_band", None) not in events  # answers kept
    _events, messages = await run(report_actions.ActionReportStart(), tracker("1", half))
    assert messages[0]["response"] == "utter_report_resume"
    _events, messages = await run(report_actions.ActionReportStart(), tracker("1", {}))
    assert messages[0]["response"] == "utter_report_intro"
