"""Platform how-tos (howto.yml): report, block, make private, recover an account, two-step verification on
the apps children use, and parental controls. Named menus as the platforms name them today; where the wording
is uncertain the text says what to look for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import yaml

from bot.nlu.normalize import folded_text

HOWTO_FILE = Path(__file__).with_name("howto.yml")


@dataclass(frozen=True)
class Platform:
    key: str
    name: str
    aliases: tuple[str, ...]  # folded
    steps: dict[str, str]  # task -> text


@dataclass(frozen=True)
class HowTos:
    platforms: dict[str, Platform]
    parental_controls: dict[str, tuple[str, str]]  # key -> (name, text)
    control_aliases: dict[str, tuple[str, ...]]  # key -> folded aliases ("iphone", "android", ...)

    def find_platform(self, text: str) -> Platform | None:
        """The first platform the text names ("nick ff" -> Free Fire), by its aliases as whole words."""
        key = _first_named(text, {p.key: p.aliases for p in self.platforms.values()})
        return self.platforms[key] if key else None

    def find_control(self, text: str) -> str | None:
        """The parental control the text names ("iphone" -> Screen Time)."""
        return _first_named(text, self.control_aliases)

    def steps(self, platform: Platform, tasks: tuple[str, ...]) -> list[str]:
        return [platform.steps[task] for task in tasks if task in platform.steps]

    def platforms_for(self, tasks: tuple[str, ...]) -> list[Platform]:
        return [p for p in self.platforms.values() if any(t in p.steps for t in tasks)]


def _first_named(text: str, aliases: dict[str, tuple[str, ...]]) -> str | None:
    folded = f" {folded_text(text)} "
    found = [(folded.find(f" {a} "), key) for key, names in aliases.items() for a in names if f" {a} " in folded]
    return min(found)[1] if found else None


def _folded_names(entry: dict) -> tuple[str, ...]:
    return tuple(dict.fromkeys(folded_text(a) for a in entry.get("aliases", ())))


def _clean(text: str) -> str:
    return re.sub(r"\n{3,}", "\n\n", text.strip())


@lru_cache(maxsize=1)
def howtos(path: Path = HOWTO_FILE) -> HowTos:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    platforms = {}
    for key, entry in data["platforms"].items():
        steps = {task: _clean(text) for task, text in entry.items() if task not in ("name", "aliases", "source")}
        platforms[key] = Platform(key, entry["name"], _folded_names(entry), steps)
    controls = data["parental_controls"]
    return HowTos(
        platforms,
        {key: (e["name"], _clean(e["text"])) for key, e in controls.items()},
        {key: _folded_names(e) for key, e in controls.items()},
    )
