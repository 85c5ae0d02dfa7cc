"""False crisis alarms on real text nobody here wrote: how many messages of a corpus the safety screen raises
to high or imminent, per 1,000, with every alarm printed so that a person can read each one.

    .venv/bin/python -m benchmarks.real_text_alarms PATH [--column free_text] [--show 200] [--lexicon-only]

PATH: a CSV with a header (the text in --column, e.g. ViHSD's `free_text`), a TSV with a `text` column, or a
plain file of one message per line. The corpus is read from where it lies and never copied into the project
(ViHSD, for instance, is research-only: measure with it, never train on it or commit it).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import Counter
from pathlib import Path

from bot.safety import RANK, Screen


def read_messages(path: Path, column: str) -> list[str]:
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix in (".csv", ".tsv"):
        rows = csv.DictReader(text.splitlines(), delimiter="\t" if path.suffix == ".tsv" else ",")
        name = column if column in (rows.fieldnames or ()) else "text"
        return [row[name].replace("\n", " ").strip() for row in rows if (row.get(name) or "").strip()]
    return [line.strip() for line in text.splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("path", type=Path)
    parser.add_argument("--column", default="free_text")
    parser.add_argument("--show", type=int, default=200, help="how many alarms to print (all: -1)")
    parser.add_argument("--json", action="store_true", help="one JSON line per alarm instead of a table")
    parser.add_argument("--lexicon-only", action="store_true", help="without the learned model, for comparison")
    args = parser.parse_args(argv)

    messages = read_messages(args.path, args.column)
    screen = Screen.from_file(model=None) if args.lexicon_only else Screen.from_file()
    levels: Counter[str] = Counter()
    alarms = []
    for message in messages:
        assessment = screen.assess_text(message)
        levels[assessment.risk] += 1
        if RANK[assessment.risk] >= RANK["high"]:
            alarms.append((assessment, message))
    total = len(messages)
    print(f"{total} messages from {args.path.name}")
    for level in ("none", "concern", "high", "imminent"):
        print(f"  {level:9s} {levels[level]:6d}  ({1000 * levels[level] / max(total, 1):.1f} per 1,000)")
    print(f"high or imminent: {len(alarms)} = {1000 * len(alarms) / max(total, 1):.1f} per 1,000")
    shown = alarms if args.show < 0 else alarms[: args.show]
    for assessment, message in shown:
        if args.json:
            print(json.dumps({**assessment.as_dict(), "text": message}, ensure_ascii=False))
        else:
            print(f"{assessment.risk:9s} {','.join(assessment.signals):40s} {message[:140]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
