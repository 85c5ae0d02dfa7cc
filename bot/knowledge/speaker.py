"""Who is writing: a child (the default), a parent or a teacher, and how to address an adult.

Adults must be answered as adults ("anh/chị", "thầy/cô", the form they use for themselves). The cues live in
speaker.yml; they are read on the folded text, so "con toi" works like "con tôi". Standard library and
PyYAML only: imported by the action server (Python 3.10) and by the gateway.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from enum import Enum
from functools import lru_cache
from pathlib import Path

import yaml

from bot.nlu.normalize import folded_text

SPEAKER_FILE = Path(__file__).with_name("speaker.yml")


class Speaker(str, Enum):
    CHILD = "child"
    PARENT = "parent"
    TEACHER = "teacher"

    @property
    def is_adult(self) -> bool:
        return self is not Speaker.CHILD


class Audience(str, Enum):
    """What the replies are written for (the condition of domain.yml's response variations)."""

    CHILD = "child"
    ADULT = "adult"


@dataclass(frozen=True)
class SpeakerCue:
    speaker: Speaker
    address: str | None  # the form of address for an adult; None for a child


def _words(pattern: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w)(?:{pattern})(?!\w)")


@dataclass(frozen=True)
class SpeakerCues:
    teacher: tuple[re.Pattern[str], ...]
    parent: tuple[re.Pattern[str], ...]
    address: tuple[tuple[str, tuple[re.Pattern[str], ...]], ...]
    default_address: dict[Speaker, str]

    def detect(self, text: str) -> SpeakerCue | None:
        """The adult speaker this message reveals, or None when it shows no adult cue."""
        folded = folded_text(text)
        if any(p.search(folded) for p in self.teacher):
            speaker = Speaker.TEACHER
        elif any(p.search(folded) for p in self.parent):
            speaker = Speaker.PARENT
        else:
            return None
        return SpeakerCue(speaker, self.address_for(text, speaker))

    def address_for(self, text: str, speaker: Speaker) -> str:
        lowered = unicodedata.normalize("NFC", text).lower()
        for form, patterns in self.address:
            if any(p.search(lowered) for p in patterns):
                return form
        return self.default_address[speaker]


@lru_cache(maxsize=1)
def speaker_cues(path: Path = SPEAKER_FILE) -> SpeakerCues:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return SpeakerCues(
        teacher=tuple(_words(p) for p in data["teacher"]),
        parent=tuple(_words(p) for p in data["parent"]),
        address=tuple((a["form"], tuple(re.compile(p) for p in a["when"])) for a in data["address"]),
        default_address={Speaker(k): v for k, v in data["default_address"].items()},
    )


def detect_speaker(text: str) -> SpeakerCue | None:
    return speaker_cues().detect(text)
