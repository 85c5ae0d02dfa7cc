"""The learned risk model beside the lexicon: TF-IDF over folded word n-grams, folded character n-grams and the
accented words as typed, with a multinomial logistic regression over the four levels.

Trained by `bin/train` (`python -m bot.safety.train`, scikit-learn, fixed seed) from the labelled sets in
tests/data/risk/; saved as `models/risk-<hash>.npz` (vocabulary, idf, weights, thresholds: arrays and text,
no pickle) and loaded once at start-up. Inference here is plain numpy, microseconds per message, no
network and no Rasa.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bot.nlu.normalize import folded_text

MODELS_DIR = Path(__file__).resolve().parents[2] / "models"
CHAR_NGRAMS = (2, 3, 4, 5)
PHRASE_NGRAMS = (6, 8)  # character runs across word boundaries: "g muon c", "ong nua " (measured on dev, README)
_RAW_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def features(text: str) -> list[str]:
    """The model's features: folded words and word pairs ("w:", "b:"), folded character n-grams within
    words ("c:") and across them ("p:"), and accented words as typed ("r:"), which keep "từ" (from) apart
    from "tự" (self)."""
    folded = folded_text(text)
    words = folded.split()
    out = [f"w:{w}" for w in words]
    out += [f"b:{a}_{b}" for a, b in zip(words, words[1:], strict=False)]
    for word in words:
        padded = f" {word} "
        for n in CHAR_NGRAMS:
            out += [f"c:{padded[i:i + n]}" for i in range(len(padded) - n + 1)]
    line = f" {folded} "
    out += [f"p:{line[i:i + n]}" for n in PHRASE_NGRAMS for i in range(len(line) - n + 1)]
    raw = unicodedata.normalize("NFC", text).lower()
    out += [f"r:{w}" for w in _RAW_WORD.findall(raw) if not w.isascii()]
    return out


@dataclass(frozen=True)
class Thresholds:
    """Set on the dev split by bot/safety/train.py (see README "Safety screen")."""

    high: float  # P(high) + P(imminent) at or above: the model alone rates the message high
    imminent: float  # P(imminent) at or above (with `high` met): imminent
    possible: float  # P(high) + P(imminent) at or above (below `high`): a gentle question, not a crisis reply
    concern: float  # P(concern) + P(high) + P(imminent) at or above: concern
    harmless: float  # P(none) at or above: confidently harmless (may lower a lexicon hit, see screen.py)
    # P(none) at or above which even an explicit phrase (method, plan, act) gets the gentle question instead
    # of the crisis reply; never lower than that. Above 1: never.
    harmless_explicit: float = 1.01


class RiskModel:
    def __init__(self, vocabulary: dict[str, int], idf: np.ndarray, coef: np.ndarray, intercept: np.ndarray,
                 classes: list[str], thresholds: Thresholds, name: str = "") -> None:
        self.vocabulary = vocabulary
        self.idf = idf
        self.coef = coef  # (classes, features)
        self.intercept = intercept
        self.classes = classes
        self.thresholds = thresholds
        self.name = name

    def probabilities(self, text: str) -> dict[str, float]:
        counts = Counter(i for f in features(text) if (i := self.vocabulary.get(f)) is not None)
        if not counts:
            scores = self.intercept
        else:
            index = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tf = np.fromiter((1.0 + math.log(c) for c in counts.values()), dtype=np.float64, count=len(counts))
            values = tf * self.idf[index]
            values /= np.linalg.norm(values) or 1.0
            scores = self.coef[:, index] @ values + self.intercept
        exp = np.exp(scores - scores.max())
        probs = exp / exp.sum()
        return {level: float(p) for level, p in zip(self.classes, probs, strict=True)}

    # -- the artefact ---------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        terms = [""] * len(self.vocabulary)
        for term, index in self.vocabulary.items():
            terms[index] = term
        meta = {"classes": self.classes, "thresholds": self.thresholds.__dict__, "terms": terms}
        np.savez_compressed(path, idf=self.idf, coef=self.coef, intercept=self.intercept,
                            meta=np.frombuffer(json.dumps(meta, ensure_ascii=False).encode(), dtype=np.uint8))

    @classmethod
    def load(cls, path: Path) -> RiskModel:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(data["meta"].tobytes().decode())
            return cls({t: i for i, t in enumerate(meta["terms"])}, data["idf"], data["coef"], data["intercept"],
                       list(meta["classes"]), Thresholds(**meta["thresholds"]), path.name)

    @classmethod
    def newest(cls, directory: Path = MODELS_DIR) -> RiskModel | None:
        """The newest trained artefact (bin/train keeps one), or None when there is none yet."""
        found = sorted(directory.glob("risk-*.npz"), key=lambda p: p.stat().st_mtime)
        return cls.load(found[-1]) if found else None
