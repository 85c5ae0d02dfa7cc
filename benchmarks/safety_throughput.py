"""Safety screen throughput on one core: messages per second (median of several runs) and per-message latency
(p50, p99), the lexicon and the learned risk model together as the gateway runs them, and the lexicon alone
beside it in the same run.

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


def latencies_ms(screen: Screen, messages: list[str]) -> tuple[float, float]:
    times = []
    for text in messages:
        start = time.perf_counter()
        screen.assess(text)
        times.append((time.perf_counter() - start) * 1000)
    times.sort()
    return statistics.median(times), times[int(0.99 * (len(times) - 1))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.safety_throughput")
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    screen = Screen.from_file()
    print(f"screen load (lexicon + model {screen.model.name if screen.model else 'none'}): "
          f"{(time.perf_counter() - start) * 1000:.0f} ms")
    lexicon_only = Screen.from_file(model=None)
    risky = [row.text for path in sorted((PROJECT_ROOT / "tests" / "data" / "risk").glob("dev*.tsv"))
             for row in load_rows(path)] or [row.text for row in load_rows(PROJECT_ROOT / "tests/data/safety_dev.tsv")]
    dev = risky * max(1, 6000 // len(risky))
    chat = nlu_examples() * 5
    for label, messages in (("risk dev set (~half risky)", dev), ("chat-like traffic", chat)):
        for name, which in (("lexicon + model", screen), ("lexicon alone", lexicon_only)):
            throughput(which, messages, 1)  # warm the per-token caches as a running gateway has them
            rate = throughput(which, messages, args.runs)
            p50, p99 = latencies_ms(which, messages)
            print(f"{label:27s} {name:16s} {len(messages):6d} msgs  median {rate:8,.0f} msg/s  "
                  f"p50 {p50:.3f} ms  p99 {p99:.3f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
