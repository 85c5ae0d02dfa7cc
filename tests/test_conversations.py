"""Conversation tests as data: every dialogue story in tests/conversation_tests/ must run without a wrong turn.

The knowledge base's per-sub-question stories (knowledge.yml) are single questions by an author who wrote no
training data; they are scored, not required to be perfect (tests/test_knowledge_rasa.py)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from bot.config import PROJECT_ROOT

STORIES = PROJECT_ROOT / "tests" / "conversation_tests"
DIALOGUES = ("topics.yml", "report_form.yml")


def test_conversation_stories_pass(model_path: Path, tmp_path: Path) -> None:
    stories = tmp_path / "stories"
    stories.mkdir()
    for name in DIALOGUES:
        (stories / name).write_text((STORIES / name).read_text(encoding="utf-8"), encoding="utf-8")
    result = subprocess.run(
        [str(PROJECT_ROOT / "bin" / "rasa"), "test", "core", "--stories", str(stories), "--model", str(model_path),
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
