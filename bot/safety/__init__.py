"""Safety screen: a deterministic risk assessment of every inbound message (see screen.py)."""

from bot.safety.screen import LEVELS, RANK, Assessment, Screen, max_level

__all__ = ["LEVELS", "RANK", "Assessment", "Screen", "max_level"]
