"""NLU quality on held-out data: intent macro-F1 with diacritics and with them stripped.

    .venv/bin/python -m benchmarks.nlu_eval [--model models/] [--data tests/data/nlu_heldout.yml]

Runs Rasa's own `rasa test nlu` on the held-out file and on an accent-stripped copy of it, and prints
macro-F1, the weakest intents, and (with --latency) the median parse time through Rasa's HTTP API.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.config import PROJECT_ROOT
from bot.nlu.normalize import strip_accents

RASA = PROJECT_ROOT / "bin" / "rasa"
HELDOUT = PROJECT_ROOT / "tests" / "data" / "nlu_heldout.yml"
_ANNOTATION = re.compile(r"\[([^\]]+)\]\(([^)]+)\)")


@dataclass(frozen=True)
class NluScore:
    macro_f1: float
    per_intent: dict[str, float]

    def weakest(self, n: int = 3) -> list[tuple[str, float]]:
        return sorted(self.per_intent.items(), key=lambda kv: kv[1])[:n]


def unaccented_copy(source: Path, target: Path) -> Path:
    """The same examples without diacritics (entity annotations keep their labels)."""
    lines = []
    for line in source.read_text(encoding="utf-8").splitlines():
        stripped = line.lstrip()
        if stripped.startswith("- ") and not stripped.startswith("- intent:") and not stripped.startswith("- regex:"):
            # Strip accents from the example text but not from entity names inside "](...)".
            head, _, text = line.partition("- ")
            line = head + "- " + "".join(
                strip_accents(part) if not part.startswith("](") else part
                for part in re.split(r"(\]\([^)]*\))", text)
            )
        lines.append(line)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def rasa_test_nlu(data: Path, model: Path, out: Path) -> NluScore:
    subprocess.run(
        [str(RASA), "test", "nlu", "--nlu", str(data), "--model", str(model), "--out", str(out)],
        cwd=PROJECT_ROOT, check=True, capture_output=True,
    )
    report = json.loads((out / "intent_report.json").read_text(encoding="utf-8"))
    per_intent = {
        name: values["f1-score"] for name, values in report.items()
        if isinstance(values, dict) and name not in {"macro avg", "weighted avg", "micro avg", "accuracy"}
        and values.get("support", 0) > 0
    }
    return NluScore(report["macro avg"]["f1-score"], per_intent)


@contextmanager
def rasa_parser(model: Path, port: int = 5099) -> Iterator[Callable[[str], dict]]:
    """A Rasa server on loopback for the duration; yields parse(text) -> Rasa's parse result."""
    import urllib.request

    if model.is_dir():
        model = max(model.glob("*.tar.gz"), key=lambda p: p.stat().st_mtime)
    server = subprocess.Popen(
        [str(RASA), "run", "--enable-api", "-i", "127.0.0.1", "-p", str(port), "--model", str(model)],
        cwd=PROJECT_ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def parse(text: str) -> dict:
        request = urllib.request.Request(
            url + "/model/parse", data=json.dumps({"text": text}).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read())

    try:
        for _ in range(600):
            try:
                with urllib.request.urlopen(url + "/status", timeout=1) as r:
                    if b"model_file" in r.read():
                        break
            except OSError:
                time.sleep(0.5)
        yield parse
    finally:
        server.terminate()
        server.wait(timeout=30)


def parse_latency_ms(model: Path, texts: list[str], port: int = 5099) -> float:
    """Median time of POST /model/parse on a running Rasa server (loopback)."""
    with rasa_parser(model, port) as parse:
        timings = []
        for text in texts:
            start = time.perf_counter()
            parse(text)
            timings.append((time.perf_counter() - start) * 1000)
        return statistics.median(timings[5:] or timings)


def heldout_texts(path: Path) -> list[str]:
    return [
        _ANNOTATION.sub(r"\1", line.strip()[2:]) for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("- ") and not line.strip().startswith(("- intent:", "- regex:"))
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nlu_eval")
    parser.add_argument("--model", type=Path, default=PROJECT_ROOT / "models")
    parser.add_argument("--data", type=Path, default=HELDOUT)
    parser.add_argument("--latency", action="store_true", help="also measure parse latency")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        plain = unaccented_copy(args.data, tmp_path / "unaccented.yml")
        for label, data in (("with diacritics", args.data), ("without diacritics", plain)):
            score = rasa_test_nlu(data, args.model, tmp_path / label.replace(" ", "_"))
            weakest = ", ".join(f"{name} {f1:.2f}" for name, f1 in score.weakest())
            print(f"macro-F1 {label:20s} {score.macro_f1:.3f}   weakest: {weakest}")
    if args.latency:
        texts = heldout_texts(args.data)[:200]
        latency = parse_latency_ms(args.model, texts)
        print(f"parse latency (median of {len(texts)}, HTTP /model/parse): {latency:.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
