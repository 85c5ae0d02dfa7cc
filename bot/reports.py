"""Incident reports: reading a reporter's answers, saving the report, looking up its status.

The report form (domain.yml `report_form`, actions/report.py) asks one question at a time. Every answer
arrives as free text or as a button payload (`/choose{"choice": "<value>"}`); `step()` turns it into slot
updates: an answer normalised to a stored value, a skip ("bỏ qua"), a step back ("quay lại"), an edit
picked at the confirmation step, or "not an answer" (a cancel or another question, which the dialogue
rules handle). Matching works on `folded_text` (accent-free, teen code expanded), so "zalo", "Zalô" and
"fb" are recognised however they are typed.

Minimal data: only the form's fields are stored, and a call-back number only when the reporter chose to
be contacted and offered one. Reports follow Decree 56/2017 Form 01 (README, "Reporting an incident").
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from typing import Any, Mapping

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from bot.handover import Handover, Opened
from bot.nlu.normalize import folded_text
from bot.store import Report, Store

SKIPPED = "skipped"  # a question the reporter chose not to answer (stored as NULL)
CONFIRM = "confirm_report"  # "send" | "edit": the last question, over a summary of the answers
EDIT = "edit_field"  # asked only after "edit": which answer to change
PHONE = "callback_phone"  # offered only to a reporter who wants to be contacted

# The questions in the order they are asked (the domain's `report_form.required_slots`); the call-back
# number and the field picker are asked only when they apply (`required_slots`).
FORM_SLOTS = (
    "reporter_role", "age_band", "category", "child_safe_now", "ongoing", "platform", "occurred_when",
    "description", "consent_contact", PHONE, "consent_share", CONFIRM, EDIT,
)
FREE_TEXT = ("platform", "occurred_when", "description")  # any text is an answer (platform: if unknown)

HIGH_SEVERITY_CATEGORIES = frozenset({"grooming", "sextortion", "sexual_content"})
CODE_PREFIX = "BC-"
# No 0/O, 1/I/L: a code read aloud or copied by hand cannot be mistyped into another valid code.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 6
CODE_RE = re.compile(r"\bbc-?([a-z0-9]{6})\b", re.IGNORECASE)
STATUSES = ("new", "in_review", "referred", "closed")

# Intents that mean "this is another question, not an answer" while a choice is asked.
INTERRUPTIONS = frozenset({
    "greet", "goodbye", "thank", "bot_challenge", "ask_bullying", "ask_grooming", "ask_sextortion",
    "ask_privacy", "ask_scam", "ask_harmful_content", "ask_hotline", "express_distress", "request_human",
    "parent_guidance", "out_of_scope", "check_report_status",
})
# While free text is asked, only these interrupt (a description is often classified as a topic intent).
STRONG_INTERRUPTIONS = frozenset({"ask_hotline", "request_human", "bot_challenge", "check_report_status"})
INTERRUPTION_CONFIDENCE = 0.6
STRONG_INTERRUPTION_CONFIDENCE = 0.8
CONTROL_CONFIDENCE = 0.7
SHORT_MESSAGE_WORDS = 4

# Whole messages (folded) that are a control word, whatever the classifier made of them. "bỏ qua đi" is
# a skip inside the form, although the NLU data calls it a cancel elsewhere.
CONTROL_PHRASES = {  # keyed by the intent that means the same
    "skip": {
        "bo qua", "bo qua di", "bo qua nha", "bo qua nhe", "bo qua cau nay", "skip", "next", "cau tiep",
        "cau tiep theo", "qua cau khac", "khong muon tra loi", "khong muon noi", "khong tra loi",
    },
    "go_back": {
        "quay lai", "quay lai di", "quay lai cau truoc", "tro lai", "tro lai cau truoc", "back", "lui lai",
        "cau truoc", "sua cau truoc", "quay ve",
    },
    "cancel": {
        "huy", "huy di", "huy bao cao", "thoi huy", "thoi huy di", "dung lai", "dung lai di", "cancel",
        "stop", "thoat", "thoi khong bao cao nua", "khong bao cao nua",
    },
}
UNKNOWN = ("khong biet", "khong ro", "chua biet", "khong chac", "chua chac", "khong nho", "unknown")

# Choices per question: (stored value, folded phrases that mean it), tried in order, so that
# "không an toàn" is read as "no" before "an toàn" is read as "yes". Each value also names itself.
Choices = tuple[tuple[str, tuple[str, ...]], ...]
YES = ("co", "yes", "u", "vang", "ok", "duoc")
CHOICES: dict[str, Choices] = {
    "reporter_role": (
        ("parent_teacher", ("parent_teacher", "bo me", "phu huynh", "giao vien", "co giao", "thay giao",
                            "thay co", "con toi", "con minh", "hoc sinh", "hoc tro", "me", "bo", "ba",
                            "nguoi lon", "parent", "teacher")),
        ("friend", ("friend", "ban", "ban minh", "ban toi", "ban em", "nguoi quen", "em trai", "em gai",
                    "anh trai", "chi gai")),
        ("child", ("child", "minh", "toi", "em", "con", "to", "tao", "chinh minh", "voi minh")),
    ),
    "category": (
        ("sextortion", ("sextortion", "tong tien", "doa tung", "tung anh", "doa dang anh", "doa phat tan",
                        "doa gui anh")),
        ("sexual_content", ("sexual_content", "anh nong", "clip nong", "video nong", "nude", "khoa than",
                            "khieu dam", "sex", "nhay cam", "tinh duc", "anh kin")),
        ("grooming", ("grooming", "du do", "lam quen", "nguoi la", "ga gam", "ru gap", "hen gap", "doi gap",
                      "tang qua", "xin anh")),
        ("hacked_account", ("hacked_account", "hack", "mat nick", "mat acc", "mat tai khoan", "bay acc",
                            "bay nick", "chiem tai khoan", "chiem nick", "chiem acc", "mat khau")),
        ("scam", ("scam", "lua dao", "lua", "trung thuong", "chuyen tien", "mat tien", "otp", "nap tien")),
        ("bullying", ("bullying", "bat nat", "chui", "che gieu", "noi xau", "beu xau", "tay chay", "ha nhuc",
                      "lang ma", "bully", "xuc pham", "quay roi", "anh che", "cuoi nhao", "doa danh")),
        ("other", ("other", "khac", "chuyen khac")),
    ),
    "child_safe_now": (
        ("unknown", UNKNOWN),
        ("no", ("no", "khong an toan", "chua an toan", "nguy hiem", "khong", "chua")),
        ("yes", ("yes", "an toan", "van on", "on", *YES)),
    ),
    "ongoing": (
        ("unknown", UNKNOWN),
        ("no", ("no", "cham dut", "het roi", "khong con", "da dung", "ngung", "xong roi", "khong", "het")),
        ("yes", ("yes", "van", "van con", "dang", "con", "tiep dien", *YES)),
    ),
    "consent_contact": (
        ("no", ("no", "khong", "thoi", "khoi", "khong can")),
        ("yes", ("yes", "muon", "dong y", "lien he", *YES)),
    ),
    "consent_share": (
        ("unknown", ("unknown", "chua chac", "khong chac", "khong biet", "de suy nghi")),
        ("no", ("no", "khong dong y", "khong")),
        ("yes", ("yes", "dong y", *YES)),
    ),
    "occurred_when": (  # buttons only: typed times are kept as written ("hôm qua lúc 9h tối")
        ("today", ("today",)), ("yesterday", ("yesterday",)), ("this_week", ("this_week",)),
        ("this_month", ("this_month",)), ("earlier", ("earlier",)),
    ),
    CONFIRM: (
        ("edit", ("edit", "sua", "doi", "chinh", "chua dung", "sai", "khong")),
        ("send", ("send", "gui", "dung roi", "ok", "xong", "dong y", "chuan", *YES)),
    ),
    EDIT: (
        ("reporter_role", ("reporter_role", "nguoi bao cao", "ai bao cao", "voi ai", "xay ra voi")),
        ("age_band", ("age_band", "tuoi")),
        ("category", ("category", "chuyen gi", "loai")),
        ("child_safe_now", ("child_safe_now", "an toan")),
        ("ongoing", ("ongoing", "tiep dien")),
        ("platform", ("platform", "ung dung", "app", "nen tang", "o dau")),
        ("occurred_when", ("occurred_when", "khi nao", "thoi gian", "ngay")),
        ("description", ("description", "ke lai", "mo ta", "noi dung")),
        ("consent_contact", ("consent_contact", "lien he")),
        (PHONE, (PHONE, "so dien thoai", "so goi lai", "goi lai")),
        ("consent_share", ("consent_share", "chia se", "111", "cong an")),
    ),
}
AGE_BANDS = ("under_7", "7_10", "11_13", "14_15", "16_17", "adult")
PLATFORMS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Messenger", ("messenger", "mess", "mes")),
    ("Facebook", ("facebook", "face", "phay", "phay buc")),
    ("Zalo", ("zalo",)),
    ("TikTok", ("tiktok", "tik tok", "top top")),
    ("YouTube", ("youtube", "you tube", "yt")),
    ("Instagram", ("instagram", "insta", "ig")),
    ("Telegram", ("telegram", "tele")),
    ("Discord", ("discord",)),
    ("Roblox", ("roblox",)),
    ("Free Fire", ("free fire", "ff")),
    ("Minecraft", ("minecraft",)),
    ("Snapchat", ("snapchat", "snap")),
    ("Threads", ("threads",)),
    ("X (Twitter)", ("twitter",)),
    ("Game online", ("game online", "game", "gem")),
)
MAX_TEXT = {"platform": 64, "occurred_when": 128, "description": 4000}


# -- reading an answer ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Said:
    """The reporter's latest message as Rasa understood it."""

    text: str
    intent: str | None = None
    confidence: float = 0.0
    choice: str | None = None  # the value of a button (`/choose{"choice": ...}`)

    @property
    def is_payload(self) -> bool:
        return self.text.startswith("/")


@dataclass(frozen=True)
class Reading:
    kind: str  # answer | skip | go_back | cancel | interrupt | unclear
    value: Any = None


@dataclass(frozen=True)
class Step:
    """What one message does to the form."""

    updates: dict[str, Any] = field(default_factory=dict)  # slot values to set (None clears a slot)
    responses: tuple[str, ...] = ()  # domain responses to send before the next question
    reject: bool = False  # not an answer: the dialogue rules take the message (cancel, another question)
    cancel: bool = False  # the reporter wants to stop: nothing is saved


def _padded(folded: str) -> str:
    return f" {folded} "


def _mentions(padded: str, phrases: tuple[str, ...]) -> bool:
    return any(f" {phrase} " in padded for phrase in phrases)


def choose(slot: str, folded: str) -> str | None:
    """The choice a (folded) answer names, for a question with fixed choices."""
    padded = _padded(folded)
    for value, phrases in CHOICES.get(slot, ()):
        if _mentions(padded, phrases):
            return value
    return None


def age_band(folded: str) -> str | None:
    """'13', '13t', 'e 13 tuổi', 'lớp 7', 'dưới 7 tuổi', 'người lớn' -> the age band."""
    if folded in AGE_BANDS:
        return folded
    padded = _padded(folded)
    if _mentions(padded, ("duoi 7", "mam non", "mau giao")):
        return "under_7"
    if _mentions(padded, ("nguoi lon", "truong thanh", "adult")):
        return "adult"
    grade = re.search(r"\blop (\d{1,2})\b", folded)
    number = re.search(r"(?<!\d)(\d{1,2})(?!\d)", folded)
    if grade and 1 <= int(grade.group(1)) <= 12:
        age = int(grade.group(1)) + 6
    elif number and 1 <= int(number.group(1)) <= 99 and not re.search(r"\d{3,}", folded):
        age = int(number.group(1))
    else:
        return None
    for limit, band in ((6, "under_7"), (10, "7_10"), (13, "11_13"), (15, "14_15"), (17, "16_17")):
        if age <= limit:
            return band
    return "adult"


def platform(text: str, folded: str) -> str:
    """A known app's name ('fb' -> 'Facebook', 'zalo' -> 'Zalo'), or the app as the reporter wrote it."""
    padded = _padded(folded)
    for name, phrases in PLATFORMS:
        if folded == name.lower() or _mentions(padded, phrases):
            return name
    return _clip(text, MAX_TEXT["platform"])


def phone_number(text: str) -> str | None:
    """A Vietnamese phone number in the text, as 0xxxxxxxxx; None if there is none."""
    match = re.search(r"\+?\d[\d .\-()]{7,16}\d", text)
    if not match:
        return None
    digits = re.sub(r"[^\d+]", "", match.group())
    if digits.startswith("+84"):
        digits = "0" + digits[3:]
    elif digits.startswith("84") and len(digits) in (11, 12):
        digits = "0" + digits[2:]
    return digits if re.fullmatch(r"0\d{9,10}", digits) else None


def _clip(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def control(said: Said, folded: str) -> str | None:
    """skip | go_back | cancel, when the message is one of those and nothing else."""
    bare = re.sub(r" (nha|nhe|a|ak|di|ban|oi)$", "", folded)
    for kind, phrases in CONTROL_PHRASES.items():
        if folded in phrases or bare in phrases:
            return kind
    # The classifier's word only for a button or a short message: a long one is an answer.
    short = said.is_payload or len(folded.split()) <= SHORT_MESSAGE_WORDS
    if short and said.intent in CONTROL_PHRASES and said.confidence >= CONTROL_CONFIDENCE:
        return said.intent
    return None


def _yes_no(slot: str, said: Said) -> str | None:
    """'ừ', 'vâng', 'ko ạ' as the classifier read them, for the questions with a yes and a no."""
    if said.confidence < CONTROL_CONFIDENCE:
        return None
    values = {value for value, _ in CHOICES.get(slot, ())}
    meaning = {"affirm": ("yes", "send"), "deny": ("no", "edit")}.get(said.intent or "", ())
    return next((value for value in meaning if value in values), None)


def parse(slot: str, said: Said, folded: str) -> Any:
    """The stored value an answer gives to the question `slot`, or None if it gives none."""
    if said.choice is not None:  # a button: its value is exact (or stale, from another question)
        if slot == "platform":
            known = platform(said.choice, folded_text(said.choice))
            return known if known in {name for name, _ in PLATFORMS} else None
        if slot == "age_band":
            return said.choice if said.choice in AGE_BANDS else None
        return said.choice if said.choice in {value for value, _ in CHOICES.get(slot, ())} else None
    if said.is_payload:  # another button's intent ("/affirm", "/report_incident")
        return _yes_no(slot, said)
    if slot == "age_band":
        return age_band(folded)
    if slot == PHONE:
        return phone_number(said.text)
    if slot == "platform":
        return platform(said.text, folded)
    if slot in FREE_TEXT:
        return _clip(said.text, MAX_TEXT[slot]) if folded else None
    return choose(slot, folded) or _yes_no(slot, said)


def read(slot: str, said: Said) -> Reading:
    """What the message says in answer to the question `slot`."""
    folded = folded_text(said.text)
    kind = control(said, folded)
    if kind is not None:
        return Reading(kind)
    short = len(folded.split()) <= SHORT_MESSAGE_WORDS
    if slot in FREE_TEXT:
        if said.intent in STRONG_INTERRUPTIONS and said.confidence >= STRONG_INTERRUPTION_CONFIDENCE:
            return Reading("interrupt")
        if slot != "description" and short and _mentions(_padded(folded), UNKNOWN):
            return Reading("skip")  # "không nhớ", "ko biết app gì"
    value = parse(slot, said, folded)
    if value is not None:
        return Reading("answer", value)
    if slot == PHONE and said.intent == "deny":
        return Reading("skip")  # "không" to the offer of a call-back
    if slot not in (CONFIRM, EDIT) and short and _mentions(_padded(folded), UNKNOWN):
        return Reading("skip")  # "không biết" where there is no "don't know" button
    if said.intent in INTERRUPTIONS and said.confidence >= INTERRUPTION_CONFIDENCE:
        return Reading("interrupt")
    return Reading("unclear")


# -- the form, one message at a time -------------------------------------------------------------------
def required_slots(answers: Mapping[str, Any]) -> list[str]:
    """The questions this reporter is asked, in order: a call-back number only to someone who wants to be
    contacted, and the field picker only after "edit" at the confirmation step."""
    wants_call = answers.get("consent_contact") == "yes"
    editing = answers.get(CONFIRM) == "edit"
    return [slot for slot in FORM_SLOTS if (slot != PHONE or wants_call) and (slot != EDIT or editing)]


def previous_slot(slot: str, answers: Mapping[str, Any]) -> str | None:
    slots = required_slots(answers)
    index = slots.index(slot) if slot in slots else len(slots)
    return slots[index - 1] if index > 0 else None


def _edit(field_name: str) -> dict[str, Any]:
    updates: dict[str, Any] = {field_name: None, CONFIRM: None, EDIT: None}
    if field_name == "consent_contact":
        updates[PHONE] = None  # asked again if they still want to be contacted
    return updates


def step(slot: str, said: Said, answers: Mapping[str, Any]) -> Step:
    """The form's response to one message while the question `slot` is open."""
    reading = read(slot, said)
    if reading.kind in ("cancel", "interrupt"):
        return Step({slot: None}, reject=True, cancel=reading.kind == "cancel")
    if reading.kind == "go_back":
        previous = previous_slot(slot, answers)
        return Step({slot: None, **({previous: None} if previous else {})})
    if reading.kind == "skip" and slot == EDIT:
        return Step({EDIT: None, CONFIRM: None})  # nothing to change: back to the summary
    if reading.kind == "skip" and slot != CONFIRM:
        return Step({slot: SKIPPED})
    if reading.kind != "answer":
        return Step({slot: None}, ("utter_report_phone_unclear" if slot == PHONE else "utter_report_unclear",))

    value = reading.value
    if slot == EDIT:
        return Step(_edit(value))
    if slot == CONFIRM and value == "edit":
        picked = choose(EDIT, folded_text(said.text)) if said.choice is None else None
        return Step(_edit(picked)) if picked else Step({CONFIRM: "edit"})
    updates: dict[str, Any] = {slot: value}
    responses: list[str] = []
    if slot == "category":
        responses.append(f"utter_report_advice_{value}")
    if slot == "child_safe_now" and value == "no":
        responses.append("utter_report_unsafe_now")
    if slot == "consent_contact" and value != "yes":
        updates[PHONE] = None  # minimal data: no number from someone who does not want a call
    return Step(updates, tuple(responses))


def in_progress(answers: Mapping[str, Any]) -> bool:
    """Has the reporter answered anything in a report not yet sent or cancelled?"""
    return any(answers.get(slot) is not None for slot in FORM_SLOTS)


# -- the summary at the confirmation step ---------------------------------------------------------------
CHOICE_RE = re.compile(r'"choice"\s*:\s*"([^"]+)"')
SUMMARY_FIELDS = {  # placeholder in utter_report_summary -> slot
    "who": "reporter_role", "age": "age_band", "what": "category", "safe": "child_safe_now",
    "still": "ongoing", "where": "platform", "when": "occurred_when", "details": "description",
    "contact": "consent_contact", "phone": PHONE, "share": "consent_share",
}
SUMMARY_DESCRIPTION_CHARS = 200


def button_labels(responses: Mapping[str, Any], slot: str) -> dict[str, str]:
    """value -> button title, from the question's own buttons in domain.yml (one place for the wording)."""
    variants = responses.get(f"utter_ask_{slot}") or [{}]
    labels = {}
    for button in variants[0].get("buttons") or ():
        match = CHOICE_RE.search(button.get("payload", ""))
        if match:
            labels[match.group(1)] = button.get("title", match.group(1))
    return labels


def _text_of(responses: Mapping[str, Any], name: str) -> str:
    variants = responses.get(name) or [{"text": ""}]
    return variants[0].get("text", "").strip()


def summary(answers: Mapping[str, Any], responses: Mapping[str, Any]) -> dict[str, str]:
    """The values for utter_report_summary's placeholders, as the reporter saw them on the buttons."""
    skipped = _text_of(responses, "utter_report_label_skipped")
    values = {}
    for placeholder, slot in SUMMARY_FIELDS.items():
        value = answers.get(slot)
        if slot == PHONE and answers.get("consent_contact") != "yes":
            value = None
        if value is None:
            values[placeholder] = _text_of(responses, "utter_report_label_not_given")
        elif value == SKIPPED:
            values[placeholder] = skipped
        elif slot == "description":
            values[placeholder] = _clip(str(value), SUMMARY_DESCRIPTION_CHARS)
        else:
            values[placeholder] = button_labels(responses, slot).get(str(value), str(value))
    return values


# -- saving and looking up ------------------------------------------------------------------------------
def record_values(answers: Mapping[str, Any]) -> dict[str, Any]:
    """The Report columns from the form's answers: skipped and unknown become NULL where they carry nothing."""

    def answer(slot: str) -> Any:
        value = answers.get(slot)
        return None if value in (None, SKIPPED) else value

    def consent(slot: str) -> bool | None:
        return {"yes": True, "no": False}.get(answer(slot))

    values = {slot: answer(slot) for slot in (
        "reporter_role", "category", "platform", "occurred_when", "ongoing", "child_safe_now", "age_band",
        "description",
    )}
    values["consent_contact"] = consent("consent_contact")
    values["consent_share"] = consent("consent_share")
    values[PHONE] = answer(PHONE) if values["consent_contact"] else None
    return values


def is_urgent(values: Mapping[str, Any]) -> bool:
    """Reports a counsellor must see at once: sexual exploitation, a child not safe now, harm still going on."""
    return (
        values.get("category") in HIGH_SEVERITY_CATEGORIES
        or values.get("child_safe_now") == "no"
        or values.get("ongoing") == "yes"
    )


def new_code() -> str:
    return CODE_PREFIX + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def find_code(text: str) -> str | None:
    """A report code in what the reporter typed ('bc-7k3p9q', 'BC7K3P9Q'), as stored ('BC-7K3P9Q')."""
    match = CODE_RE.search(text or "")
    return CODE_PREFIX + match.group(1).upper() if match else None


@dataclass(frozen=True)
class Submitted:
    report: Report
    escalation: Opened | None  # the case opened (or raised) for an urgent report


class Reports:
    def __init__(self, store: Store, handover: Handover) -> None:
        self.store = store
        self.handover = handover

    def submit(self, contact_id: int | None, answers: Mapping[str, Any], attempts: int = 5) -> Submitted:
        """Save the report under a fresh code; an urgent one opens a high-risk case for a counsellor."""
        values = record_values(answers)
        for attempt in range(attempts):
            try:
                with self.store.session() as s:
                    report = Report(code=new_code(), contact_id=contact_id, status="new", **values)
                    s.add(report)
                break
            except IntegrityError:  # the code was taken (about one in 887 million per report): draw again
                if attempt == attempts - 1:
                    raise
        escalation = None
        if contact_id is not None and is_urgent(values):
            escalation = self.handover.open_escalation(contact_id, "high", "report", report_id=report.id)
        return Submitted(report, escalation)

    def status(self, code: str) -> str | None:
        """The status of the report with this code (nothing else about it), or None if there is none."""
        with self.store.session() as s:
            return s.scalar(select(Report.status).where(Report.code == code))

    def by_code(self, code: str) -> Report | None:
        with self.store.session() as s:
            return s.scalar(select(Report).where(Report.code == code))
