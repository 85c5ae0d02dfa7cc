"""Safety screen throughput on one core: messages per second, median of several runs.

    .venv/bin/python -m benchmarks.safety_throughput [--runs 7]

Two mixes, measured side by side in one run: the labelled dev set (half of it risky, the hard case)
and chat-like traffic (the NLU training examples: questions and small talk, as most real messages are).
"""

from __future__ import annotations

import argparse
import statistics
import time

import yaml

from bot.config import PROJECT_ROOT
from bot.safety import Screen
from bot.safety.evaluate import load_rows


def nlu_examples() -> list[str]:
    texts = []
    for path in sorted((PROJECT_ROOT / "nlu_data").glob("nlu*.yml")):
        for block in yaml.safe_load(path.read_text(encoding="utf-8")).get("nlu", []):
            for line in (block.get("examples") or "").splitlines():
                if line.strip().startswith("- "):
                    texts.append(line.strip()[2:])
    return texts


def throughput(screen: Screen, messages: list[str], runs: int) -> float:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        for text in messages:
            screen.assess(text)
        rates.append(len(messages) / (time.perf_counter() - start))
    return statistics.median(rates)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.safety_throughput")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    screen = Screen.from_file()
    print(f"screen load: {(time.perf_counter() - start) * 1000:.0f} ms")
    dev = [row.text for row in load_rows(PROJECT_ROOT / "tests" / "data" / "safety_dev.tsv")] * 20
    chat = nlu_examples() * 5
    # Warm the per-token cache the way a running gateway has it warm; then measure.
    throughput(screen, dev + chat, 1)
    for label, messages in (("dev set (50% risky)", dev), ("chat-like traffic", chat)):
        rate = throughput(screen, messages, args.runs)
        print(f"{label:22s} {len(messages):6d} msgs  median {rate:9,.0f} msg/s  ({1e6 / rate:.1f} µs/msg)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
