"""Text normalisation shared by the NLU tokenizer and the safety screen.

Children write Vietnamese with or without diacritics, in teen code, with repeated letters and emoji.
Everything downstream works on a *folded* form: lower case, accents stripped, letter runs folded,
teen code expanded by a curated map. The accented form is kept beside it, because a few distinctions
("từ từ" = slowly vs "tự tử" = suicide) only survive with diacritics.

This module is imported inside the Rasa environment (Python 3.10, old pins): standard library only.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

TEENCODE_FILE = Path(__file__).with_name("teencode.tsv")

# A "syllable" is a run of letters/digits; an emoji or other pictograph is a token of its own.
_TOKEN_RE = re.compile(r"[^\W_]+|[\U0001F000-\U0001FAFF\u2600-\u27BF]", re.UNICODE)
_RUN_RE = re.compile(r"([a-z])\1+")
_ACCENTED_RE = re.compile(r"[^\x00-\x7F]")


@dataclass(frozen=True)
class Token:
    """One token of the input: its span in the original text, its raw and folded forms."""

    start: int
    end: int
    raw: str
    folded: tuple[str, ...]  # teen code may expand one token into several words ("ntn")


def strip_accents(text: str) -> str:
    """Remove Vietnamese diacritics: 'Bắt nạt' -> 'Bat nat', 'đ' -> 'd'."""
    decomposed = unicodedata.normalize("NFD", text)
    without_marks = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return without_marks.replace("đ", "d").replace("Đ", "D")


def has_diacritics(text: str) -> bool:
    """True when the text carries Vietnamese letters with marks (so segmentation is trustworthy)."""
    return any(_ACCENTED_RE.match(ch) and unicodedata.category(ch).startswith("L") for ch in text)


def fold_runs(word: str) -> str:
    """Fold repeated letters ('buonnnn' -> 'buon'); keep 'uu' ('cuu' = cứu) and digits as they are."""
    return _RUN_RE.sub(lambda m: "uu" if m.group(1) == "u" else m.group(1), word)


@lru_cache(maxsize=1)
def teencode_map(path: Path = TEENCODE_FILE) -> dict[str, tuple[str, ...]]:
    mapping: dict[str, tuple[str, ...]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        short, _, expansion = line.partition("\t")
        mapping[short.strip()] = tuple(expansion.split())
    return mapping


def fold_word(raw: str) -> tuple[str, ...]:
    """Fold one raw token into one or more normalised words."""
    word = strip_accents(unicodedata.normalize("NFC", raw)).lower()
    if not word.isascii() or not word.isalnum():
        return (word,)  # emoji and other symbols are kept as they are: they are signals too
    mapping = teencode_map()
    if word in mapping:
        return mapping[word]
    folded = fold_runs(word)
    return mapping.get(folded, (folded,))


def tokenize(text: str) -> list[Token]:
    """Split text into tokens with spans, each with its folded form."""
    text = unicodedata.normalize("NFC", text)
    return [Token(m.start(), m.end(), m.group(0), fold_word(m.group(0))) for m in _TOKEN_RE.finditer(text)]


def folded_text(text: str) -> str:
    """The whole message in folded form, words separated by single spaces."""
    return " ".join(word for token in tokenize(text) for word in token.folded)
