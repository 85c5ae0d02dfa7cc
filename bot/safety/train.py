"""Train the learned risk model (bot/safety/model.py) and set its thresholds on the dev split.

    .venv/bin/python -m bot.safety.train [--force]      (bin/train runs it; prints the artefact's path)

Data (tests/data/risk/, one author per file, see README): train_*.tsv to fit; dev.tsv and dev_social.tsv
(social-media comments) to set the thresholds; test_*.tsv never learnt from (only their texts are read, so
that a message an author of the test split also wrote elsewhere is dropped from train and dev; the figures
on them are measured by bot.safety.evaluate). The artefact models/risk-<hash>.npz is named by the hash of
everything it depends on, so an unchanged input is not trained again. Fixed seed; scikit-learn is used only
here, never at run time.
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bot.config import PROJECT_ROOT
from bot.nlu.normalize import folded_text
from bot.safety.evaluate import Report, Row, load_rows, score
from bot.safety.model import MODELS_DIR, RiskModel, Thresholds, features
from bot.safety.screen import LEXICON_FILE, Screen

if TYPE_CHECKING:
    from sklearn.pipeline import Pipeline

DATA_DIR = PROJECT_ROOT / "tests" / "data" / "risk"
# The earlier labelled sets the lexicon was tuned on are training data for the model too (other authors).
EXTRA_TRAIN = tuple(PROJECT_ROOT / "tests" / "data" / name for name in ("safety_dev.tsv", "safety_holdout.tsv"))
SEED = 42
C = 20.0  # inverse regularisation of the logistic regression (chosen on dev among 10-80, docs/safety.md)
CLASS_WEIGHT: str | None = None  # the data's own mix: "balanced" made unknown text look risky (README)
# The operating point, chosen on dev (docs/safety.md): catch at least MIN_CAUGHT of high+imminent (a crisis
# reply, or the gentle question of the middle band), while false crisis replies stay within budget on open
# social-media text and on the harmless half of dev, and gentle questions to harmless messages too (a wide
# middle band caught 0.99 but asked one harmless message in seven); then as many as possible at >= high.
MIN_CAUGHT = 0.95
MAX_SOCIAL_ALARMS = 0.004  # per message: 4 per 1,000
MAX_DEV_FALSE_HIGH = 0.01
MAX_DEV_FALSE_POSITIVE = 0.07  # harmless messages flagged at any level, the gentle question included
SOCIAL_DEV = "dev_social.tsv"  # social-media comments by another author: the false alarms of open text


def training_files() -> list[Path]:
    return sorted(DATA_DIR.glob("train_*.tsv")) + [p for p in EXTRA_TRAIN if p.exists()]


def without(rows: list[Row], held_out: set[str]) -> list[Row]:
    """Rows whose folded text is not in `held_out` (and not repeated): no message in two splits."""
    kept, seen = [], set(held_out)
    for row in rows:
        key = folded_text(row.text)
        if key not in seen:
            seen.add(key)
            kept.append(row)
    return kept


def splits() -> tuple[list[Row], list[Row], list[Row]]:
    """Train, dev and the social-media dev, each without the messages of the splits after it."""
    test_texts = {folded_text(row.text) for path in sorted(DATA_DIR.glob("test_*.tsv")) for row in load_rows(path)}
    dev = without(load_rows(DATA_DIR / "dev.tsv"), test_texts)
    social = without(load_rows(DATA_DIR / SOCIAL_DEV), test_texts) if (DATA_DIR / SOCIAL_DEV).exists() else []
    dev_texts = {folded_text(row.text) for row in dev + social}
    train = without([row for path in training_files() for row in load_rows(path)], test_texts | dev_texts)
    return train, dev, social


def inputs_hash() -> str:
    digest = hashlib.sha256()
    sources = [*training_files(), DATA_DIR / "dev.tsv", DATA_DIR / SOCIAL_DEV, *sorted(DATA_DIR.glob("test_*.tsv")),
               LEXICON_FILE, *sorted((PROJECT_ROOT / "bot" / "nlu").glob("*")),
               *(Path(__file__).with_name(name) for name in ("train.py", "model.py", "screen.py"))]
    for path in sources:
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def fit_pipeline(rows: list[Row]) -> Pipeline:
    """scikit-learn's TF-IDF and logistic regression, as trained (tests compare RiskModel against it)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    pipeline = Pipeline([
        ("tfidf", TfidfVectorizer(analyzer=features, sublinear_tf=True, min_df=2, norm="l2", dtype=np.float64)),
        ("logreg", LogisticRegression(C=C, max_iter=5000, class_weight=CLASS_WEIGHT, random_state=SEED)),
    ])
    return pipeline.fit([row.text for row in rows], [row.risk for row in rows])


def fit(rows: list[Row]) -> RiskModel:
    return from_pipeline(fit_pipeline(rows))


def from_pipeline(pipeline: Pipeline) -> RiskModel:
    """The trained weights as the run-time model (plain arrays; scikit-learn is not needed to use them)."""
    vectorizer, classifier = pipeline.named_steps["tfidf"], pipeline.named_steps["logreg"]
    vocabulary = {term: int(index) for term, index in vectorizer.vocabulary_.items()}
    placeholder = Thresholds(high=0.5, imminent=0.5, possible=0.3, concern=0.5, harmless=0.9)
    return RiskModel(vocabulary, vectorizer.idf_.astype(np.float64), classifier.coef_.astype(np.float64),
                     classifier.intercept_.astype(np.float64), [str(c) for c in classifier.classes_], placeholder)


def feasible(report: Report, social: Report | None) -> bool:
    return (report.caught_high_or_above >= MIN_CAUGHT and report.false_high_rate <= MAX_DEV_FALSE_HIGH
            and report.false_positive_rate <= MAX_DEV_FALSE_POSITIVE
            and (social is None or social.false_high_rate <= MAX_SOCIAL_ALARMS))


def objective(report: Report) -> float:
    """Among feasible thresholds: most recall at >= high and imminent exact, fewest gentle questions to
    harmless messages."""
    return report.recall_high_or_above + report.recall["imminent"] - 2 * report.false_positive_rate


def choose_thresholds(
    screen: Screen, model: RiskModel, dev: list[Row], social: list[Row]
) -> tuple[Thresholds, Report, Report | None]:
    lexicon = [screen.lexicon_assessment(row.text) for row in dev + social]
    probs = [model.probabilities(row.text) for row in dev + social]
    words = [screen.word_count(row.text) for row in dev + social]
    best: tuple[float, Thresholds, Report, Report | None] | None = None
    grid = itertools.product(
        (0.4, 0.5, 0.6, 0.7, 0.8, 0.9), (0.2, 0.3, 0.5), (0.15, 0.3, 0.5, 0.7, 1.0), (0.5, 0.7, 0.8, 1.01),
        (0.5, 0.6, 0.75, 0.9), (0.9, 1.01),
    )
    for high, imminent, possible_share, concern, harmless, harmless_explicit in grid:
        limits = Thresholds(float(high), float(imminent), round(high * possible_share, 3), float(concern),
                            float(harmless), float(harmless_explicit))
        judged = [(row, screen.decide(lex, p, limits, n)) for row, lex, p, n in zip(dev + social, lexicon, probs,
                                                                                          words, strict=True)]
        report = score(judged[: len(dev)])
        social_report = score(judged[len(dev):]) if social else None
        # An infeasible point is judged by how far it is from the budget, so the nearest one wins if none fits.
        value = objective(report) if feasible(report, social_report) else (
            -100 + 10 * report.caught_high_or_above - 100 * (social_report.false_high_rate if social_report else 0)
            - 100 * report.false_high_rate - 10 * report.false_positive_rate)
        if best is None or value > best[0]:
            best = (value, limits, report, social_report)
    assert best is not None
    return best[1], best[2], best[3]


def print_report(name: str, report: Report) -> None:
    print(f"[risk] {name}: recall>=high {report.recall_high_or_above:.3f}  "
          f"caught {report.caught_high_or_above:.3f}  "
          f"imminent exact {report.recall['imminent']:.3f}  FP(any) {report.false_positive_rate:.3f}  "
          f"FP(>=high) {report.false_high_rate:.3f}  n={report.total}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.safety.train", description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    out = MODELS_DIR / f"risk-{inputs_hash()}.npz"
    if out.exists() and not args.force:
        print(f"[risk] model is up to date: {out.relative_to(PROJECT_ROOT)}", file=sys.stderr)
        print(out)
        return 0
    started = time.monotonic()
    rows, dev, social = splits()
    model = fit(rows)
    screen = Screen.from_file(model=None)
    lexicon_only = score([(row, screen.lexicon_assessment(row.text)) for row in dev])
    thresholds, report, social_report = choose_thresholds(screen, model, dev, social)
    model = RiskModel(model.vocabulary, model.idf, model.coef, model.intercept, model.classes, thresholds)
    MODELS_DIR.mkdir(exist_ok=True)
    model.save(out)
    for stale in MODELS_DIR.glob("risk-*.npz"):
        if stale != out:
            stale.unlink()
    print(f"[risk] trained on {len(rows)} messages, {len(model.vocabulary)} features, in "
          f"{time.monotonic() - started:.0f} s; thresholds {thresholds}", file=sys.stderr)
    print_report("dev, lexicon alone", lexicon_only)
    print_report("dev, lexicon + model", report)
    if social_report:
        print_report("social-media dev, lexicon + model", social_report)
    print(out)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
