"""The bridging mode: between a disclosure and a person, the assistant itself carries the child.

A case that nobody has claimed yet (`waiting_human`) must never mean silence. The pipeline hands every
message of a waiting child (and every high/imminent message) here first:
- a message at a new, higher level gets that level's reply and a notice that is true now (bot/bridge/notices);
- the safety check goes on as a conversation: "are you thinking of suicide?" -> "have you thought about
  when or how?" -> "are you safe right now?"; each answer gets its next step, raises the case when it
  should (113/115 for danger now, 111 always) and is kept in the case for the counsellor;
- guided exercises while waiting: a safety plan in five steps (after Stanley & Brown's Safety Planning
  Intervention, in plain words for a child) and 5-4-3-2-1 grounding for panic;
- the child can leave the queue;
- anything else (a topic question, "gọi 111 có mất tiền ko") returns None: Rasa answers it as usual, and
  the case stays open with the counsellor seeing everything.
No network, no Rasa: this works when Rasa is down. Nothing here describes a method, ever.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from enum import StrEnum

from bot.bridge.notices import HandoverNotices
from bot.bridge.phrases import Answer, Phrases, default_phrases
from bot.handover import Handover, Opened
from bot.knowledge.language import detect_language
from bot.knowledge.speaker import detect_speaker
from bot.messages import OutboundMessage
from bot.safety import RANK, Assessment, Screen
from bot.store import Bridge as BridgeRow
from bot.store import Contact, ContactState, Store, aware, utcnow
from bot.texts import Texts

PLAN_ANSWER_CHARS = 300  # what a child writes into a safety plan step is kept short
POSSIBLE_EVERY = timedelta(hours=24)  # the middle band's gentle question, at most once in this time


class Question(StrEnum):
    """The safety question the assistant is waiting on (C-SSRS screener order, simplified)."""

    NONE = ""
    THINKING = "thinking"  # are you thinking of hurting yourself or of suicide?
    PLAN = "plan"  # have you thought about when or how?
    SAFE_NOW = "safe_now"  # are you safe right now?


class Flow(StrEnum):
    NONE = ""
    SAFETY_PLAN = "safety_plan"
    GROUNDING = "grounding"


ADULT_SUFFIX = "_adult"  # utter_safety_high_adult: the safety reply for a parent or teacher writing about a child
# The safety plan's steps, each a response in domain.yml (utter_plan_<step>); the last only informs.
PLAN_STEPS = ("warning_signs", "calming", "people", "safe_place", "help")
GROUNDING_STEPS = 5  # utter_grounding_1 .. utter_grounding_5, then utter_grounding_done
COMMANDS = {"/safety_plan": Flow.SAFETY_PLAN, "/grounding": Flow.GROUNDING}
NEXT, SKIP, STOP, LEAVE = "/next_step", "/skip_step", "/stop_exercise", "/leave_queue"


@dataclass(frozen=True)
class CheckStep:
    following: Question  # the question asked next (NONE: the check is over)
    response: str
    raise_to: str | None = None  # the case's level after this answer


# The safety check: (question, answer) -> the next step. On "are you safe right now?" anything but yes
# means not safe, and the question stays until the child says they are safe.
SAFETY_CHECK: dict[tuple[Question, Answer], CheckStep] = {
    (Question.THINKING, Answer.YES): CheckStep(Question.PLAN, "utter_check_thinking_yes", "high"),
    (Question.THINKING, Answer.NO): CheckStep(Question.NONE, "utter_check_thinking_no"),
    (Question.THINKING, Answer.UNSURE): CheckStep(Question.SAFE_NOW, "utter_check_unsure"),
    (Question.THINKING, Answer.RETRACT): CheckStep(Question.NONE, "utter_check_retracted"),
    (Question.PLAN, Answer.YES): CheckStep(Question.SAFE_NOW, "utter_check_plan_yes", "imminent"),
    (Question.PLAN, Answer.NO): CheckStep(Question.SAFE_NOW, "utter_check_plan_no"),
    (Question.PLAN, Answer.UNSURE): CheckStep(Question.SAFE_NOW, "utter_check_unsure"),
    (Question.PLAN, Answer.RETRACT): CheckStep(Question.NONE, "utter_check_retracted"),
    (Question.SAFE_NOW, Answer.YES): CheckStep(Question.NONE, "utter_check_safe"),
    **{(Question.SAFE_NOW, answer): CheckStep(Question.SAFE_NOW, "utter_check_unsafe", "imminent")
       for answer in (Answer.NO, Answer.UNSURE, Answer.RETRACT)},
}


@dataclass
class Turn:
    """What the bridge says, and what the pipeline must announce (case raised, child left the queue)."""

    replies: list[OutboundMessage]
    events: list[tuple[str, dict]] = field(default_factory=list)


class Bridge:
    def __init__(
        self, store: Store, handover: Handover, texts: Texts, screen: Screen, phrases: Phrases | None = None
    ) -> None:
        self.store = store
        self.handover = handover
        self.texts = texts
        self.screen = screen
        self.phrases = phrases or default_phrases()
        self.notices = HandoverNotices(texts, handover, self.phrases)

    # -- a high or imminent message ---------------------------------------------------------------
    def safety_turn(self, contact: Contact, assessment: Assessment, opened: Opened, text: str) -> Turn | None:
        """The reply to a message the screen rated high or imminent, after its case was opened or raised.
        None: nothing safety-specific to add (Rasa answers, and the pipeline makes sure 111 is there)."""
        state = self.store.bridge(contact.id)
        if opened.created or opened.raised:
            return self._new_level(contact, assessment, opened, text)
        if not assessment.phrases and self._is_for_the_bridge(state, text):
            # "e an toàn, e đang ở với mẹ" answers the question, "không cần nữa" leaves the queue: the model's
            # hunch about the words does not outrank them (a risk phrase of the lexicon would).
            return self.answer(contact, text, state)
        if RANK[assessment.own] < RANK["high"]:
            # High only because of the turns before: read the message itself ("có", "đùa thôi", a question).
            return self.answer(contact, text, state)
        if self.screen.is_abuse_only(assessment):
            return None  # "có nên chuyển tiền ko??" after a threat: the topic answer is what helps
        if assessment.own == "imminent":
            self.store.save_bridge(contact.id, question=Question.SAFE_NOW, flow=Flow.NONE, step=0)
            return Turn(self.texts.render("utter_check_unsafe"))
        if state.question == Question.THINKING and assessment.phrases:
            return self._answer_question(contact, state, Question.THINKING, Answer.YES)  # "e ko muốn sống nữa"
        if state.flow == Flow.SAFETY_PLAN:
            return self._flow_step(contact, state, text)  # warning signs are allowed to sound like this
        return Turn(self.texts.render("utter_bridge_listening"))

    def _is_for_the_bridge(self, state: BridgeRow, text: str) -> bool:
        """An answer to the pending question, a command, or leaving the queue or an exercise."""
        text = text.strip()
        if text in COMMANDS or text in (NEXT, SKIP, STOP, LEAVE) or self.phrases.wants_to_leave_queue(text):
            return True
        if state.flow and (self.phrases.wants_to_stop(text) or self.phrases.wants_to_skip(text)):
            return True
        safety = state.question == Question.SAFE_NOW
        return bool(state.question) and self.phrases.answer(text, safety_question=safety) is not Answer.OTHER

    def _new_level(self, contact: Contact, assessment: Assessment, opened: Opened, text: str) -> Turn:
        if assessment.risk == "imminent":
            name, question = "utter_safety_imminent", Question.SAFE_NOW
        elif self.screen.is_abuse_only(assessment):
            name, question = "utter_safety_abuse", Question.NONE  # no self-harm question for an exploited child
        else:
            name, question = "utter_safety_high", Question.THINKING
        adult = detect_speaker(text)
        if adult is not None and name + ADULT_SUFFIX in self.texts:
            # "con tôi nói muốn chết": the parent is told what to do now, not asked about their own thoughts.
            name += ADULT_SUFFIX
            question = Question.SAFE_NOW if question == Question.SAFE_NOW else Question.NONE
        self.store.save_bridge(contact.id, question=question, flow=Flow.NONE, step=0, left_queue_at=None)
        language = detect_language(text)
        replies = self.texts.render(name, language, address=adult.address if adult else "")
        if opened.created:
            replies += self.notices.status(language=language)
        return Turn(replies)

    # -- anything else ----------------------------------------------------------------------------
    def answer(self, contact: Contact, text: str, state: BridgeRow | None = None) -> Turn | None:
        """Bridge-specific handling of an ordinary message; None when Rasa should answer it. `state`: the
        contact's bridging row when the caller has read it already."""
        state = state or self.store.bridge(contact.id)
        stripped = text.strip()
        if contact.state == ContactState.WAITING_HUMAN and (
            stripped == LEAVE or self.phrases.wants_to_leave_queue(stripped)
        ):
            return self._leave_queue(contact)
        if stripped in COMMANDS:
            return self._start(contact, COMMANDS[stripped])
        if state.flow and (stripped == STOP or self.phrases.wants_to_stop(stripped)):
            self.store.save_bridge(contact.id, flow=Flow.NONE, step=0)
            return Turn(self.texts.render("utter_exercise_stopped"))
        if state.flow and "?" not in stripped:
            return self._flow_step(contact, state, stripped)  # a question mid-exercise goes to Rasa instead
        if self.phrases.cries_for_help(stripped):
            # "cứu t với" on its own is not "didn't understand": are you safe right now? (with 113/115/111)
            self.store.save_bridge(contact.id, question=Question.SAFE_NOW)
            return Turn(self.texts.render("utter_help_request"))
        if self.phrases.says_not_safe(stripped):
            # "t ko an toan bay h" needs no question before it: the same next step as "not safe" to one.
            return self._answer_question(contact, state, Question.SAFE_NOW, Answer.NO)
        if state.question:
            answer = self.phrases.answer(stripped, safety_question=state.question == Question.SAFE_NOW)
            if answer is not Answer.OTHER:
                return self._answer_question(contact, state, Question(state.question), answer)
            self.store.save_bridge(contact.id, question=Question.NONE)  # moved on: a later "có" is not an answer
        return None

    # -- the safety check ---------------------------------------------------------------------------
    def _answer_question(self, contact: Contact, state: BridgeRow, question: Question, answer: Answer) -> Turn:
        answers = json.loads(state.answers or "{}")
        answers[question.value] = answer.value
        step = SAFETY_CHECK[question, answer]
        self.store.save_bridge(contact.id, question=step.following, answers=json.dumps(answers))
        replies = self.texts.render(step.response)
        if not step.raise_to:
            return Turn(replies)
        opened = self.handover.open_escalation(contact.id, step.raise_to, "safety",
                                               [f"check_{question.value}_{answer.value}"])
        if opened.created:  # the gentle question of the "possible" band was answered yes: now a case
            replies += self.notices.status()
        if not (opened.created or opened.raised):
            return Turn(replies)
        case = opened.escalation
        return Turn(replies, [("escalation", {"escalation_id": case.id, "risk": case.risk})])

    def possible_question(self, contact: Contact, text: str = "") -> list[OutboundMessage]:
        """The model's middle band: not a crisis reply, a gentle direct question; the answer settles it.
        Asked at most once a day, and not while a case is open or another question waits: a child who
        writes "gio ko vao dc" three times is not asked three times whether they want to hurt themselves."""
        if contact.state != ContactState.BOT:
            return []
        state = self.store.bridge(contact.id)
        now = utcnow()
        if state.question or (state.possible_asked_at and now - aware(state.possible_asked_at) < POSSIBLE_EVERY):
            return []
        self.store.save_bridge(contact.id, question=Question.THINKING, possible_asked_at=now)
        return self.texts.render("utter_check_possible", detect_language(text))

    # -- leaving the queue --------------------------------------------------------------------------
    def _leave_queue(self, contact: Contact) -> Turn:
        case = self.handover.leave_queue(contact.id)
        if case is None:
            return Turn(self.texts.render("utter_queue_left"))
        self.store.save_bridge(contact.id, left_queue_at=utcnow(), question=Question.NONE)
        follow_up = RANK[case.risk] >= RANK["high"]  # the case stays open: a person still reads it
        name = "utter_queue_left_followup" if follow_up else "utter_queue_left"
        return Turn(self.texts.render(name), [("queue_left", {"escalation_id": case.id, "risk": case.risk})])

    # -- guided exercises ---------------------------------------------------------------------------
    def _start(self, contact: Contact, flow: Flow) -> Turn:
        self.store.save_bridge(contact.id, flow=flow, step=0, question=Question.NONE)
        return Turn(self._step_prompt(flow, 0))

    def _step_prompt(self, flow: Flow, step: int) -> list[OutboundMessage]:
        if flow is Flow.SAFETY_PLAN:
            return self.notices.render(f"utter_plan_{PLAN_STEPS[step]}")
        return self.texts.render(f"utter_grounding_{step + 1}")

    def _flow_step(self, contact: Contact, state: BridgeRow, text: str) -> Turn:
        flow, step = Flow(state.flow), state.step
        if flow is Flow.SAFETY_PLAN:
            plan = json.loads(state.plan or "{}")
            skipped = text in (SKIP, NEXT) or self.phrases.wants_to_skip(text)
            if not skipped and PLAN_STEPS[step] != "help":
                plan[PLAN_STEPS[step]] = text[:PLAN_ANSWER_CHARS]
            if step + 1 < len(PLAN_STEPS):
                self.store.save_bridge(contact.id, step=step + 1, plan=json.dumps(plan, ensure_ascii=False))
                return Turn(self._step_prompt(flow, step + 1))
            self.store.save_bridge(contact.id, flow=Flow.NONE, step=0, plan=json.dumps(plan, ensure_ascii=False))
            blank = self.phrases.label("not_written")
            summary = self.texts.render("utter_plan_summary", **{s: plan.get(s) or blank for s in PLAN_STEPS[:-1]})
            return Turn(summary)
        if step + 1 < GROUNDING_STEPS:
            self.store.save_bridge(contact.id, step=step + 1)
            return Turn(self._step_prompt(flow, step + 1))
        self.store.save_bridge(contact.id, flow=Flow.NONE, step=0)
        return Turn(self.texts.render("utter_grounding_done"))
