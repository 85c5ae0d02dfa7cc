"""Does the child get the answer to their actual question? The knowledge base on a labelled set.

    .venv/bin/python -m benchmarks.knowledge_eval [--data tests/data/knowledge_test.yml] [--model models/]

Each message is parsed by the real Rasa model and the answer is chosen exactly as actions/answers.py does
(bot.knowledge.selection: the best sub-question of DIET's topic, or the topic's general answer when unsure).
Prints: topic accuracy (DIET's intent), sub-question accuracy of Rasa's own top-ranked response, and
answer accuracy (what the child actually gets), overall and per topic, and the misses with --misses.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from benchmarks.nlu_eval import rasa_parser
from bot.config import PROJECT_ROOT
from bot.knowledge.catalogue import keys as knowledge_keys
from bot.knowledge.catalogue import topics
from bot.knowledge.selection import choose_answer

TEST_SET = PROJECT_ROOT / "tests" / "data" / "knowledge_test.yml"


def labelled(path: Path) -> list[tuple[str, str]]:
    """(message, intent/key) pairs of a Rasa NLU file with retrieval intents."""
    pairs = []
    for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
        if "/" in block.get("intent", ""):
            for line in block["examples"].splitlines():
                if line.strip().startswith("- "):
                    pairs.append((re.sub(r"\[([^\]]+)\]\([^)]+\)", r"\1", line.strip()[2:]), block["intent"]))
    return pairs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.knowledge_eval")
    parser.add_argument("--data", type=Path, default=TEST_SET)
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--misses", action="store_true", help="list every message whose answer is wrong")
    args = parser.parse_args(argv)
    pairs = labelled(args.data)
    known = knowledge_keys()
    counts: dict[str, Counter] = defaultdict(Counter)
    misses = []
    with rasa_parser(args.model, port=5098) as parse:
        for text, gold in pairs:
            topic = gold.split("/")[0]
            result = parse(text)
            intent = (result.get("intent") or {}).get("name")
            top = ((result.get("response_selector") or {}).get("default") or {}).get("response") or {}
            answer = choose_answer(result, intent, known).key if intent and "/" not in intent else None
            if intent not in topics():
                answer = None  # not a topic: no knowledge-base answer at all
            for bucket in (topic, "all"):
                counts[bucket]["n"] += 1
                counts[bucket]["topic"] += intent == topic
                counts[bucket]["selector"] += top.get("intent_response_key") == gold
                counts[bucket]["answer"] += answer == gold
                counts[bucket]["general"] += bool(answer) and answer.endswith("/general") and answer != gold
            if answer != gold:
                misses.append((gold, answer or intent, text))
    print(f"{'':22s} {'n':>4s} {'topic':>6s} {'selector':>9s} {'answer':>7s} {'general instead':>16s}")
    for bucket in sorted(counts, key=lambda b: (b == "all", b)):
        c = counts[bucket]
        n = c["n"]
        print(f"{bucket:22s} {n:4d} {c['topic'] / n:6.3f} {c['selector'] / n:9.3f} {c['answer'] / n:7.3f} "
              f"{c['general'] / n:16.3f}")
    if args.misses:
        for gold, got, text in sorted(misses):
            print(f"{gold:45s} -> {got or '-':45s} {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
