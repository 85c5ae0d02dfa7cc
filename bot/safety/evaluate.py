"""Evaluate the screen on a labelled set: recall per level and the false-positive rate on `none`.

    .venv/bin/python -m bot.safety.evaluate tests/data/safety_dev.tsv [--errors]

The TSV has a header and columns risk, text[, note]. Exit status 0; the figures are for people and
for tests (tests/test_safety_eval.py asserts the floors).
"""

from __future__ import annotations

import argparse
import csv
from dataclasses import dataclass
from pathlib import Path

from bot.safety import LEVELS, RANK, Assessment, Screen
from bot.safety.screen import POSSIBLE_RISK


@dataclass
class Row:
    risk: str
    text: str
    note: str = ""


@dataclass
class Report:
    total: int
    recall: dict[str, float]
    recall_high_or_above: float
    false_positive_rate: float  # `none` messages given any level above none
    false_high_rate: float  # `none` messages given high or imminent
    caught_high_or_above: float  # high+imminent given >= high or asked the gentle question (possible_risk)
    errors: list[tuple[Row, str, tuple[str, ...]]]


def load_rows(path: Path) -> list[Row]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
        rows = [Row(r["risk"].strip(), r["text"], (r.get("note") or "").strip()) for r in reader]
    unknown = {row.risk for row in rows} - set(LEVELS)
    if unknown:
        raise ValueError(f"{path}: unknown risk labels {sorted(unknown)}")
    return rows


def evaluate(screen: Screen, rows: list[Row]) -> Report:
    return score([(row, screen.assess(row.text)) for row in rows])


def score(judged: list[tuple[Row, Assessment]]) -> Report:
    """The figures for messages already judged (bot/safety/train.py sets thresholds with it)."""
    hits = {level: [0, 0] for level in LEVELS}
    severe = [0, 0]
    caught = 0
    none_flagged = none_high = 0
    errors = []
    for row, assessment in judged:
        predicted = assessment.risk
        hits[row.risk][1] += 1
        if predicted == row.risk:
            hits[row.risk][0] += 1
        else:
            errors.append((row, predicted, assessment.signals))
        if RANK[row.risk] >= RANK["high"]:
            severe[1] += 1
            severe[0] += RANK[predicted] >= RANK["high"]
            caught += RANK[predicted] >= RANK["high"] or POSSIBLE_RISK in assessment.signals
        if row.risk == "none":
            none_flagged += predicted != "none"
            none_high += RANK[predicted] >= RANK["high"]
    n_none = hits["none"][1] or 1
    return Report(
        total=len(judged),
        recall={level: (h / n if n else float("nan")) for level, (h, n) in hits.items()},
        recall_high_or_above=severe[0] / (severe[1] or 1),
        false_positive_rate=none_flagged / n_none,
        false_high_rate=none_high / n_none,
        caught_high_or_above=caught / (severe[1] or 1),
        errors=errors,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.safety.evaluate")
    parser.add_argument("tsv", type=Path)
    parser.add_argument("--errors", action="store_true", help="list the misjudged messages")
    args = parser.parse_args(argv)
    report = evaluate(Screen.from_file(), load_rows(args.tsv))
    print(f"messages: {report.total}")
    for level in LEVELS:
        print(f"recall {level:9s} {report.recall[level]:.3f}")
    print(f"recall high+imminent (predicted >= high): {report.recall_high_or_above:.3f}")
    print(f"high+imminent >= high or asked (possible): {report.caught_high_or_above:.3f}")
    print(f"false-positive rate on none (any level): {report.false_positive_rate:.3f}")
    print(f"none predicted >= high:                  {report.false_high_rate:.3f}")
    if args.errors:
        for row, predicted, signals in report.errors:
            print(f"{row.risk:>8} -> {predicted:8} {row.text}  [{','.join(signals)}] {row.note}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
