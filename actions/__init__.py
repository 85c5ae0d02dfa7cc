"""Rasa custom actions (rasa-sdk, run from .venv). Thin: each action calls into `bot/`."""
