"""The one normalised message type every channel produces and consumes."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Button:
    title: str
    payload: str


@dataclass(frozen=True)
class InboundMessage:
    """A message from a person, as any connector normalises it."""

    channel: str  # "webchat", "telegram", "zalo_oa", "zalo_bot"
    user_id: str  # the platform's opaque user/chat id
    text: str
    dedupe_key: str | None = None  # the platform's update/message id: resends are dropped
    is_button: bool = False  # text is a button payload ("/ask_bullying")


@dataclass(frozen=True)
class OutboundMessage:
    text: str
    buttons: tuple[Button, ...] = field(default_factory=tuple)
    sender: str = "bot"  # bot | counsellor | system

    def buttons_as_dicts(self) -> list[dict[str, str]]:
        return [{"title": b.title, "payload": b.payload} for b in self.buttons]

    @classmethod
    def from_dicts(cls, text: str, buttons: list[dict] | None, sender: str = "bot") -> OutboundMessage:
        return cls(text, tuple(Button(b["title"], b["payload"]) for b in buttons or ()), sender)
