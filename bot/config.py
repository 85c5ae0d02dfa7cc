"""All configuration in one typed place: defaults < YAML file < environment variables.

Read once at start-up (`load_settings()`), never at import time, and passed down explicitly.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields
from datetime import time
from pathlib import Path
from typing import Any, Mapping

import yaml

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CONFIG_FILE = PROJECT_ROOT / "settings.yml"


@dataclass(frozen=True)
class Settings:
    # storage
    database_url: str = f"sqlite:///{PROJECT_ROOT / 'var' / 'assistant.db'}"
    # optional: relays live events between processes (action server -> console); empty = off
    redis_url: str = ""
    # Rasa and the action server (both on loopback by default)
    rasa_url: str = "http://127.0.0.1:5005"
    rasa_timeout_s: float = 10.0
    action_server_port: int = 5055
    # gateway
    host: str = "127.0.0.1"
    port: int = 8080
    max_message_chars: int = 2000
    domain_file: Path = PROJECT_ROOT / "domain.yml"
    # counselling service (filled in by the deploying centre; empty means "not configured")
    centre_name: str = ""
    centre_contact: str = ""
    opening_hours: str = "07:30-17:00"  # local time, HH:MM-HH:MM
    opening_days: str = "1-5"  # ISO weekdays, Monday = 1
    timezone: str = "Asia/Ho_Chi_Minh"
    escalation_renotify_minutes: int = 5
    # In opening hours the child is told "a counsellor is being called" only when one can answer: a console
    # signed in and seen within counsellor_presence_minutes, or an on-call rota that covers the opening
    # hours (on_call_during_hours: true). Otherwise the child hears the truth: nobody is online yet.
    on_call_during_hours: bool = False
    counsellor_presence_minutes: int = 10
    # privacy
    retention_days: int = 365
    # platforms (all optional; a channel without its token is simply not started)
    telegram_bot_token: str = ""
    telegram_webhook_secret: str = ""
    telegram_api_base_url: str = "https://api.telegram.org"
    telegram_mode: str = "polling"  # or "webhook"
    telegram_webhook_url: str = ""
    telegram_counsellor_chat_id: str = ""
    zalo_oa_app_id: str = ""
    zalo_oa_secret_key: str = ""
    zalo_oa_access_token: str = ""
    zalo_oa_api_base_url: str = "https://openapi.zalo.me"
    zalo_bot_token: str = ""
    zalo_bot_webhook_secret: str = ""
    zalo_bot_api_base_url: str = ""  # from the Zalo Bot platform docs; no default is guessed
    zalo_bot_webhook_url: str = ""  # public https URL of /zalo/bot/webhook; set: setWebhook at start
    # console
    session_secret: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def opening_window(self) -> tuple[time, time]:
        start, _, end = self.opening_hours.partition("-")
        return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())

    def opening_weekdays(self) -> set[int]:
        first, _, last = self.opening_days.partition("-")
        return set(range(int(first), int(last or first) + 1))


def _coerce(value: str, target: Any) -> Any:
    if isinstance(target, bool):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(target, int):
        return int(value)
    if isinstance(target, float):
        return float(value)
    if isinstance(target, Path):
        return Path(value)
    return value


def load_settings(
    config_file: Path | None = None, environ: Mapping[str, str] | None = None, **overrides: Any
) -> Settings:
    """Build Settings from the YAML file (if present), then `ASSISTANT_*`/platform env vars, then overrides."""
    environ = os.environ if environ is None else environ
    config_file = Path(environ.get("ASSISTANT_CONFIG", config_file or DEFAULT_CONFIG_FILE))
    defaults = Settings()
    values: dict[str, Any] = {}
    if config_file.exists():
        loaded = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
        if not isinstance(loaded, dict):
            raise ValueError(f"{config_file}: expected a mapping of settings")
        known = {f.name for f in fields(Settings)}
        unknown = set(loaded) - known
        if unknown:
            raise ValueError(f"{config_file}: unknown settings {sorted(unknown)}")
        values.update(loaded)
    for f in fields(Settings):
        if f.name == "extra":
            continue
        # Platform variables keep their conventional names (TELEGRAM_BOT_TOKEN, ZALO_OA_...);
        # everything else is ASSISTANT_<NAME>.
        platform = f.name.startswith(("telegram_", "zalo_"))
        env_name = f.name.upper() if platform else f"ASSISTANT_{f.name.upper()}"
        if env_name in environ:
            values[f.name] = _coerce(environ[env_name], getattr(defaults, f.name))
    values.update(overrides)
    return Settings(**values)
