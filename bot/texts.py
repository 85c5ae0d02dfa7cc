"""Reply texts the gateway sends itself (safety replies, handover notices, fallbacks).

They live in domain.yml beside Rasa's responses, so there is one place for the assistant's Vietnamese;
the knowledge base's answers are responses too, kept per topic in nlu_data/answers/ (Rasa merges them into
the domain when it trains). This module reads both once at start-up.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.knowledge.language import Language
from bot.messages import Button, OutboundMessage

ANSWERS_DIR = Path("nlu_data") / "answers"
ENGLISH_SUFFIX = "_en"  # utter_safety_high_en: the same reply in simple English


def load_responses(domain_file: Path) -> dict[str, list[dict]]:
    """domain.yml's responses and the knowledge base's (nlu_data/answers/*.yml beside it)."""
    responses: dict[str, list[dict]] = {}
    answers = sorted((domain_file.parent / ANSWERS_DIR).glob("*.yml"))
    for path in (domain_file, *answers):
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        responses.update(data.get("responses") or {})
    return responses


class Texts:
    def __init__(self, responses: dict[str, list[dict]]) -> None:
        self._responses = responses

    @classmethod
    def from_domain(cls, path: Path) -> Texts:
        return cls(load_responses(path))

    def __contains__(self, name: str) -> bool:
        return name in self._responses

    def render(self, name: str, language: Language | None = None, **values: str) -> list[OutboundMessage]:
        """The response as messages: Rasa splits a text on blank lines, and so do we. In English when the
        child writes English and the response has an English twin."""
        if language is Language.ENGLISH and name + ENGLISH_SUFFIX in self._responses:
            name += ENGLISH_SUFFIX
        variants = self._responses.get(name)
        if not variants:
            raise KeyError(f"response {name!r} is not in domain.yml")
        variant = variants[0]
        text = variant["text"].strip()
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        parts = [p.strip() for p in text.split("\n\n") if p.strip()]
        # Rasa formats payloads like templates, so a literal brace is written doubled in domain.yml.
        buttons = tuple(
            Button(b["title"], b["payload"].replace("{{", "{").replace("}}", "}"))
            for b in variant.get("buttons") or ()
        )
        return [OutboundMessage(p, buttons if i == len(parts) - 1 else ()) for i, p in enumerate(parts)]
