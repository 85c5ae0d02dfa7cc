"""Reading a child's short answers ("dạ có ạ", "ko", "e ko biết", "đùa thôi 😅") and commands while waiting.

Deterministic and local: the bridging mode must work when Rasa is down, and a child's "có" to "are you
thinking of suicide?" must never depend on a classifier's mood. The phrase lists live in phrases.yml.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from pathlib import Path

import yaml

from bot.nlu.normalize import folded_text

PHRASES_FILE = Path(__file__).with_name("phrases.yml")
# A clause ends at punctuation or an emoji: "chưa, e chỉ buồn thôi" answers "chưa".
_CLAUSE_END = re.compile(r"[,.!?;:…\n]|[\U0001F000-\U0001FAFF\u2600-\u27BF]")
LEADING_WORDS = 3  # at most this many leading pronouns and fillers are set aside: "dạ giờ em ổn rồi"
RETRACT_MAX_WORDS = 10  # "đùa thôi" inside a long story is not a retraction of the answer


class Answer(StrEnum):
    YES = "yes"
    NO = "no"
    UNSURE = "unsure"
    RETRACT = "retract"  # "đùa thôi", "ko sao đâu": taking back what was said
    OTHER = "other"  # not an answer: something else to be answered


def _folded_set(items: list[str]) -> frozenset[str]:
    return frozenset(folded_text(item) for item in items)


def _longest_first(phrases: frozenset[str]) -> tuple[tuple[str, ...], ...]:
    return tuple(sorted((tuple(p.split()) for p in phrases), key=len, reverse=True))


@dataclass(frozen=True)
class Phrases:
    pronouns: frozenset[str]
    particles: frozenset[str]
    affirm: frozenset[str]
    deny: frozenset[str]
    unsure: frozenset[str]
    safe: frozenset[str]
    unsafe: frozenset[str]
    not_safe: frozenset[str]
    help_request: frozenset[str]
    retract: tuple[str, ...]
    leading: tuple[tuple[str, ...], ...]  # pronouns and fillers as word tuples, longest first
    trailing: tuple[tuple[str, ...], ...]  # particles as word tuples, longest first
    leave_queue: frozenset[str]
    stop: frozenset[str]
    skip: frozenset[str]
    labels: dict[str, object]  # names for notices (weekdays, "sáng mai lúc {time}", ...)

    @classmethod
    def load(cls, path: Path = PHRASES_FILE) -> Phrases:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        lists = ("pronouns", "particles", "affirm", "deny", "unsure", "safe", "unsafe", "not_safe", "help_request",
                 "leave_queue", "stop", "skip")
        labels = {k: v for k, v in data.items() if k not in lists and k != "retract"}
        folded = {name: _folded_set(data[name]) for name in lists}
        return cls(
            **folded,
            retract=tuple(sorted({folded_text(p) for p in data["retract"]}, key=len, reverse=True)),
            leading=_longest_first(folded["pronouns"]),
            trailing=_longest_first(folded["particles"]),
            labels=labels,
        )

    # -- reading --------------------------------------------------------------------------------
    def core(self, text: str) -> set[str]:
        """The first clause, folded, without leading pronouns and fillers ("dạ em", "giờ e"); as typed and
        without trailing particles ("chắc vậy" is an answer, and so is "có" in "có ạ")."""
        clause = _CLAUSE_END.split(text.strip(), maxsplit=1)[0]
        words = folded_text(clause).split()
        for _ in range(LEADING_WORDS):
            lead = next((p for p in self.leading if tuple(words[: len(p)]) == p and len(words) > len(p)), None)
            if lead is None:
                break
            words = words[len(lead):]
        return {" ".join(words), " ".join(self._without_particles(words))}

    def whole(self, text: str) -> set[str]:
        """The whole message folded, as typed and without trailing particles: for commands such as "hủy",
        "không cần nữa" and "thôi ko cần nữa đâu"."""
        words = folded_text(text).split()
        return {" ".join(words), " ".join(self._without_particles(words))}

    def _without_particles(self, words: list[str]) -> list[str]:
        """Drop trailing particles ("ạ", "nha", "bây giờ"), never the last word left."""
        stripped = True
        while stripped:
            stripped = False
            for particle in self.trailing:
                if len(words) > len(particle) and tuple(words[-len(particle):]) == particle:
                    words, stripped = words[: -len(particle)], True
                    break
        return words

    def retracts(self, text: str) -> bool:
        folded = " " + folded_text(text) + " "
        if folded.count(" ") - 1 > RETRACT_MAX_WORDS:
            return False
        return any(f" {phrase} " in folded for phrase in self.retract)

    def answer(self, text: str, safety_question: bool = False) -> Answer:
        """How a message answers a yes/no question. For "are you safe right now?" (`safety_question`),
        "ổn"/"không sao" mean safe and a bare "không" means not safe."""
        core = self.core(text)
        if safety_question:
            if not core.isdisjoint(self.unsafe):
                return Answer.NO
            if not core.isdisjoint(self.safe) or self.retracts(text):
                return Answer.YES
        elif self.retracts(text):
            return Answer.RETRACT
        for phrases, answer in ((self.unsure, Answer.UNSURE), (self.deny, Answer.NO), (self.affirm, Answer.YES)):
            if not core.isdisjoint(phrases):
                return answer
        return Answer.OTHER

    def says_not_safe(self, text: str) -> bool:
        return not self.core(text).isdisjoint(self.not_safe)

    def cries_for_help(self, text: str) -> bool:
        return not self.whole(text).isdisjoint(self.help_request)

    def wants_to_leave_queue(self, text: str) -> bool:
        return not self.whole(text).isdisjoint(self.leave_queue)

    def wants_to_stop(self, text: str) -> bool:
        return not self.whole(text).isdisjoint(self.stop)

    def wants_to_skip(self, text: str) -> bool:
        return not self.whole(text).isdisjoint(self.skip)

    def label(self, name: str) -> str:
        return str(self.labels[name])

    def weekday(self, iso_weekday: int) -> str:
        names = self.labels["weekdays"]
        assert isinstance(names, list)
        return str(names[iso_weekday - 1])


@lru_cache(maxsize=1)
def default_phrases() -> Phrases:
    return Phrases.load()
