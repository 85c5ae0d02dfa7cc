"""Contract: one message per line on stdin -> one JSON object per line on stdout.

    .venv/bin/python -m bot.safety < messages.txt
    {"risk": "high", "signals": ["suicidal_ideation"]}

Each line is judged on its own. With --conversation, the lines are the turns of one conversation and
each is judged with the previous turns as context.
"""

from __future__ import annotations

import argparse
import json
import sys

from bot.safety import Screen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.safety", description=__doc__.splitlines()[0])
    parser.add_argument("--conversation", action="store_true", help="treat the lines as one conversation")
    args = parser.parse_args(argv)
    screen = Screen.from_file()
    history: list[str] = []
    for line in sys.stdin:
        text = line.rstrip("\r\n")
        assessment = screen.assess(text, history) if args.conversation else screen.assess(text)
        history.append(assessment.risk)
        sys.stdout.write(json.dumps(assessment.as_dict(), ensure_ascii=False) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
