"""Reply texts the gateway sends itself (safety replies, handover notices, fallbacks).

They live in domain.yml beside Rasa's responses, so there is one place for the assistant's Vietnamese;
this module reads them once at start-up.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from bot.messages import Button, OutboundMessage


class Texts:
    def __init__(self, responses: dict[str, list[dict]]) -> None:
        self._responses = responses

    @classmethod
    def from_domain(cls, path: Path) -> Texts:
        domain = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return cls(domain.get("responses") or {})

    def __contains__(self, name: str) -> bool:
        return name in self._responses

    def render(self, name: str, **values: str) -> list[OutboundMessage]:
        """The response as messages: Rasa splits a text on blank lines, and so do we."""
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
