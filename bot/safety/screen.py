"""The deterministic safety screen: every inbound message passes here before (and without) Rasa.

Input: the raw message text and the risk levels of the conversation's previous turns.
Output: an `Assessment` (risk level + the signals that fired). No I/O, no model, no network: it cannot
be down when Rasa is, and it answers in microseconds.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

import yaml

from bot.nlu import normalize
from bot.safety.model import RiskModel, Thresholds
from bot.safety.patterns import CompiledPattern, combine, compile_pattern

log = logging.getLogger(__name__)

LEVELS = ("none", "concern", "high", "imminent")
RANK = {level: i for i, level in enumerate(LEVELS)}
LEXICON_FILE = Path(__file__).with_name("lexicon.yml")
POSSIBLE_RISK = "possible_risk"  # the model's middle band: a gentle question rather than a crisis reply
NEGATED = "negated"  # the risk phrase was negated ("không có ý định tự tử"): the model may not raise it
LOWERED = "lowered_by_model"
# Below this many words the model alone does not send a crisis reply, only the gentle question: in the
# training data 23 of ~4,000 risky messages are that short and the lexicon has words for most of them ("em
# muốn chết", "kms", "i wanna die", "sống chi nữa"), while on real comments "Sẽ", "Nooo", "Tạm biệt :))" and
# after a crisis question "không cần nữa" were read as high or imminent by the model. The gentle question
# still asks the child directly, and a yes opens a case.
MIN_WORDS_FOR_MODEL_CRISIS = 4  # (when the lexicon found nothing in it)
CONTEXT_SIGNALS = frozenset({"follows_high_risk", "repeated_concern", "recent_concern", "plan_after_risk"})
MARKS = frozenset({POSSIBLE_RISK, NEGATED, LOWERED}) | CONTEXT_SIGNALS

NEGATORS = frozenset({"khong", "chua", "chang", "cha", "deo", "dau", "ko", "kg"})
NEGATION_WINDOW = 4
# "khong ai can em" is not a negation of what follows it.
NOT_NEGATING_NEXT = frozenset({"ai", "con", "nguoi"})
# Words that place a plan in the near future ("tối nay", "bây giờ"): after a high-risk turn they
# turn the conversation imminent.
NEAR_TIME = re.compile(
    r"(?:^| )(?:toi nay|dem nay|hom nay|bay gio|ngay bay gio|luc nay|chut nua|lat nua|sap|ngay mai|sang mai) "
)
_RUNS = re.compile(r"(.)\1+")
PAYLOAD = re.compile(r"^/[a-z_]+(\{.*\})?$")  # "/choose{\"choice\": \"send\"}", "/affirm"
_TOKEN_RE = re.compile(r"[^\W_]+|[\U0001F000-\U0001FAFF\u2600-\u27BF]", re.UNICODE)


def _blank(match: re.Match[str]) -> str:
    """Replace an idiom by as many '_' words, so word distances around it stay the same."""
    found = match.group(0)
    lead = " " if found.startswith(" ") else ""
    return lead + "_ " * found.strip().count(" ") + "_ "


def _asked_gently(signals: list[str]) -> Assessment:
    """A lexicon hit the model lowered: the middle band's gentle question, never silence."""
    return Assessment("concern", tuple(s for s in signals if s != POSSIBLE_RISK) + (POSSIBLE_RISK, LOWERED))


def max_level(levels: Iterable[str]) -> str:
    return max(levels, key=RANK.__getitem__, default="none")


@dataclass(frozen=True)
class Assessment:
    risk: str
    signals: tuple[str, ...] = ()
    own_risk: str = ""  # the message's own level, before the conversation's context ("" = the same as risk)

    def at_least(self, level: str) -> bool:
        return RANK[self.risk] >= RANK[level]

    @property
    def phrases(self) -> tuple[str, ...]:
        """The lexicon's signals: what the message itself said, without the model's reading and marks."""
        return tuple(s for s in self.signals if not s.startswith("model:") and s not in MARKS)

    @property
    def own(self) -> str:
        """The level of what this message itself says (a "ko sao đâu" after a disclosure is "none" here)."""
        return self.own_risk or self.risk

    def as_dict(self) -> dict[str, object]:
        return {"risk": self.risk, "signals": list(self.signals)}


@dataclass(frozen=True)
class Signal:
    id: str
    level: str
    negatable: bool
    patterns: tuple[CompiledPattern, ...]
    reply: str = "risk"  # "abuse": harm by someone else (the reply differs from self-harm)


class Screen:
    """Lexicon-driven risk screen over folded text, with idioms, negation and conversation context."""

    def __init__(self, lexicon: dict, model: RiskModel | None = None) -> None:
        self.model = model
        # Phrases of a method, a plan or an act: never lowered by the model, however harmless it finds the rest.
        self.explicit = frozenset(lexicon.get("explicit") or ())
        self.accent_guards: dict[str, frozenset[str]] = {
            folded: frozenset(unicodedata.normalize("NFC", s) for s in spellings)
            for folded, spellings in (lexicon.get("accent_guards") or {}).items()
        }
        self.idioms = tuple(compile_pattern(src) for src in lexicon.get("idioms") or [])
        self._idiom_anchors: dict[str, list[int]] = {}
        for index, idiom in enumerate(self.idioms):
            for anchor in idiom.anchors or {""}:  # "" = no anchor: always tried
                self._idiom_anchors.setdefault(anchor, []).append(index)
        self.signals: list[Signal] = []
        self._always: list[tuple[int, int]] = []  # (signal index, pattern index) with no anchor
        # anchor word -> (signal index, pattern index, the pattern's required word sets)
        self._by_anchor: dict[str, list[tuple[int, int, tuple[frozenset[str], ...]]]] = {}
        for entry in lexicon["signals"]:
            if entry["level"] not in LEVELS[1:]:
                raise ValueError(f"signal {entry['id']}: unknown level {entry['level']!r}")
            patterns = tuple(compile_pattern(source) for source in entry["patterns"])
            index = len(self.signals)
            self.signals.append(
                Signal(entry["id"], entry["level"], bool(entry.get("negatable")), patterns, entry.get("reply", "risk"))
            )
            for p_index, pattern in enumerate(patterns):
                if not pattern.anchors:
                    self._always.append((index, p_index))
                for anchor in pattern.anchors:
                    self._by_anchor.setdefault(anchor, []).append((index, p_index, pattern.required))
        self._fold_token = lru_cache(maxsize=65536)(self._fold_token_uncached)
        # The patterns a message can match, combined into one regex per signal, cached by the set.
        self._combined = lru_cache(maxsize=4096)(self._combine_uncached)
        self._combined_idioms = lru_cache(maxsize=1024)(lambda ids: combine([self.idioms[i] for i in ids]))

    def _combine_uncached(self, signal_index: int, pattern_indexes: tuple[int, ...]) -> re.Pattern[str]:
        patterns = self.signals[signal_index].patterns
        return combine([patterns[i] for i in pattern_indexes])

    def is_abuse_only(self, assessment: Assessment) -> bool:
        """True when every serious signal that fired is harm done by someone else (abuse, threats, grooming):
        "sợ nó biết lại đánh mik" is fear of a bully, not a reason to ask about suicide. Worry ("fear",
        "sadness") beside it does not change who is doing harm."""
        serious = {signal.reply for signal in self.signals
                   if signal.id in assessment.signals and RANK[signal.level] >= RANK["high"]}
        return serious == {"abuse"}

    @classmethod
    def from_file(cls, path: Path = LEXICON_FILE, model: RiskModel | None | str = "newest") -> Screen:
        """The lexicon, with the newest trained risk model (models/risk-*.npz) unless one is given or None."""
        if model == "newest":
            model = RiskModel.newest()
            if model is None:
                log.warning("no trained risk model in models/: the safety screen runs on the lexicon alone")
        return cls(yaml.safe_load(path.read_text(encoding="utf-8")), model if isinstance(model, RiskModel) else None)

    # -- folding --------------------------------------------------------------------------------
    def _fold_token_uncached(self, raw: str) -> tuple[str, ...]:
        words = normalize.fold_word(raw)
        if len(words) == 1 and words[0] in self.accent_guards and not raw.isascii():
            if _RUNS.sub(r"\1", raw) not in self.accent_guards[words[0]]:
                return (words[0] + "'",)  # "từ" stays apart from "tự"/"tử"
        return words

    def fold(self, text: str) -> str:
        """Folded text, every word followed by one space, idioms blanked to '_'."""
        text = unicodedata.normalize("NFC", text).lower()
        words = [w for raw in _TOKEN_RE.findall(text) for w in self._fold_token(raw)]
        folded = " ".join(words) + " "
        candidates = set(self._idiom_anchors.get("", ()))
        for word in words:
            candidates.update(self._idiom_anchors.get(word, ()))
        if candidates:
            folded = self._combined_idioms(tuple(sorted(candidates))).sub(_blank, folded)
        return folded

    # -- assessment -----------------------------------------------------------------------------
    def assess_text(self, text: str) -> Assessment:
        """One message on its own: the lexicon, then (when trained) the model's reading combined with it."""
        lexicon = self.lexicon_assessment(text)
        if self.model is None or PAYLOAD.match(text):
            return lexicon  # a button's payload carries values, not a child's words
        return self.decide(lexicon, self.model.probabilities(text), self.model.thresholds, self.word_count(text))

    @staticmethod
    def word_count(text: str) -> int:
        return len(_TOKEN_RE.findall(text))

    def decide(self, lexicon: Assessment, probs: dict[str, float], limits: Thresholds,
               words: int = MIN_WORDS_FOR_MODEL_CRISIS) -> Assessment:
        """Lexicon and model into one of the four levels.

        - The model raises: P(high)+P(imminent) >= limits.high makes at least high (imminent with
          P(imminent) >= limits.imminent); the band from limits.possible is "concern" with `possible_risk`:
          the child is asked gently and the answer settles it (bot/bridge).
        - The model lowers a lexicon hit only when it is confidently harmless (P(none) >= limits.harmless)
          and no explicit phrase (method, plan, act: lexicon.yml `explicit`) fired: idioms and hyperbole.
          A high or imminent phrase is lowered at most to the gentle question, never to silence.
          An explicit phrase is never lowered below the gentle question, and only when the model is all
          but certain (P(none) >= limits.harmless_explicit): "uống nhiều nước ngọt có hại ko".
        - A message of fewer than MIN_WORDS_FOR_MODEL_CRISIS words in which the lexicon found nothing gets
          from the model the gentle question where it would have had the crisis reply, and nothing else.
        - The signals say why: the phrases, and the model's reading as `model:<level>=<p>`.
        """
        risky = probs.get("high", 0.0) + probs.get("imminent", 0.0)
        # A few words and no phrase of the lexicon ("mik", "13 tuổi", "Tạm biệt :))"): too little for the model
        # to say more than "ask gently", and only when it would otherwise send the crisis reply.
        short = words < MIN_WORDS_FOR_MODEL_CRISIS and lexicon.risk == "none"
        asked = False
        if short:
            asked = risky >= limits.high
            model_level = "concern" if asked else "none"
        elif risky >= limits.high:
            model_level = "imminent" if probs.get("imminent", 0.0) >= limits.imminent else "high"
        elif risky >= limits.possible or risky + probs.get("concern", 0.0) >= limits.concern:
            model_level = "concern"
            asked = risky >= limits.possible
        else:
            model_level = "none"
        if NEGATED in lexicon.signals and RANK[model_level] > RANK["concern"]:
            model_level = "concern"  # "mình không có ý định tự tử đâu": the child said it already
        top = max(probs, key=probs.__getitem__)
        signals = list(lexicon.signals) + [f"model:{top}={probs[top]:.2f}"]
        if model_level == "concern" and asked:
            signals.append(POSSIBLE_RISK)
        explicit = not self.explicit.isdisjoint(lexicon.signals)
        harmless = probs.get("none", 0.0)
        if lexicon.risk != "none" and not explicit and harmless >= limits.harmless:
            if RANK[lexicon.risk] >= RANK["high"]:
                # A risk phrase in the child's words is never dismissed: at most it becomes the gentle question
                # ("cách chết nhẹ nhàng nhất là gì" read as harmless by the model on dev).
                return _asked_gently(signals)
            return Assessment(model_level, tuple(signals + [LOWERED]))
        if explicit and RANK[lexicon.risk] >= RANK["high"] and harmless >= limits.harmless_explicit:
            return _asked_gently(signals)
        return Assessment(max_level((lexicon.risk, model_level)), tuple(signals))

    def lexicon_assessment(self, text: str) -> Assessment:
        folded = self.fold(text)
        candidates: dict[int, set[int]] = {}
        for signal_index, pattern_index in self._always:
            candidates.setdefault(signal_index, set()).add(pattern_index)
        words = set(folded.split())
        for word in words:
            for signal_index, pattern_index, required in self._by_anchor.get(word, ()):
                # Cheap test before any regex: every mandatory part of the pattern has a word here.
                if all(not words.isdisjoint(options) for options in required):
                    candidates.setdefault(signal_index, set()).add(pattern_index)
        fired: dict[str, str] = {}
        negated = False
        for signal_index, pattern_indexes in candidates.items():
            signal = self.signals[signal_index]
            regex = self._combined(signal_index, tuple(sorted(pattern_indexes)))
            for match in regex.finditer(folded):
                if signal.negatable and self._negated(folded, match.start()):
                    fired.setdefault(signal.id, "concern")
                    negated = True
                    continue
                fired[signal.id] = signal.level
                break
        if not fired:
            return Assessment("none")
        level = max_level(fired.values())
        marks = (NEGATED,) if negated and RANK[level] < RANK["high"] else ()
        return Assessment(level, tuple(sorted(fired)) + marks)

    @staticmethod
    def _negated(folded: str, start: int) -> bool:
        before = folded[:start].split()[-NEGATION_WINDOW:]
        return any(
            word in NEGATORS and (i + 1 == len(before) or before[i + 1] not in NOT_NEGATING_NEXT)
            for i, word in enumerate(before)
        )

    def assess(self, text: str, history: Sequence[str] = ()) -> Assessment:
        """Assess a message given the risk levels of the previous turns (oldest first)."""
        current = self.assess_text(text)
        recent = list(history)[-3:]
        signals = list(current.signals)
        risk = current.risk
        elevated = sum(RANK[level] >= RANK["concern"] for level in recent)
        previous = recent[-1] if recent else "none"
        if RANK[previous] >= RANK["high"] and RANK[risk] < RANK["imminent"]:
            if not signals and NEAR_TIME.search(self.fold(text)):
                # "tối nay e sẽ đi" right after a disclosure: a plan for now.
                risk, signals = "imminent", ["plan_after_risk"]
            elif RANK[risk] < RANK[previous]:
                # A child who has just disclosed high risk and then says "ko sao đâu" is still at risk.
                risk, signals = previous, signals + ["follows_high_risk"]
        elif risk == "concern" and elevated >= 2 and current.phrases:
            # A third worried message in a row, in the child's own words (not only the model's hunch).
            risk, signals = "high", signals + ["repeated_concern"]
        elif risk == "none" and elevated >= 2:
            risk, signals = "concern", signals + ["recent_concern"]
        return Assessment(risk, tuple(signals), own_risk=current.risk)
