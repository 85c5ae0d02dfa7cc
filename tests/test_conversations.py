"""Conversation tests as data: every story in tests/conversation_tests/ must run without a wrong turn."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.config import PROJECT_ROOT

STORIES = PROJECT_ROOT / "tests" / "conversation_tests"


def test_conversation_stories_pass(model_path: Path, tmp_path: Path) -> None:
    result = subprocess.run(
        [str(PROJECT_ROOT / "bin" / "rasa"), "test", "core", "--stories", str(STORIES), "--model", str(model_path),
         "--endpoints", str(PROJECT_ROOT / "endpoints.yml"), "--out", str(tmp_path), "--fail-on-prediction-errors"],
        cwd=PROJECT_ROOT, capture_output=True, text=True,
    )
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text(encoding="utf-8") if failed.exists() else result.stdout[-3000:] + result.stderr[-3000:]
    assert result.returncode == 0, details
    assert "None of the test stories failed" in details
    # The report form's stories (report_form.yml) reach both ends of the form.
    report = (tmp_path / "story_report.json").read_text(encoding="utf-8")
    assert '"action_submit_report"' in report and '"action_cancel_report"' in report
