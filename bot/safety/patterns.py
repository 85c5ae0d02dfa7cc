"""Compile the lexicon's small pattern language (see lexicon.yml) into regular expressions.

Patterns run over folded text: single spaces between words, no punctuation. Each compiled pattern
also knows its *anchors*: the words one of which must occur for it to match at all, so the screen
only tries the few patterns whose anchors are present (that is what makes it fast).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GAP = r"(?:\S+ ){0,3}"
NUMBER = r"\d+"


@dataclass(frozen=True)
class CompiledPattern:
    source: str
    body: str  # the regex without the leading word boundary, for combining patterns
    anchors: frozenset[str]  # empty: no cheap anchor, always tried
    # For each mandatory element, the words one of which must occur: a cheap test before the regex.
    required: tuple[frozenset[str], ...] = ()


def combine(patterns: list[CompiledPattern]) -> re.Pattern[str]:
    """One regex matching any of the patterns at a word start."""
    return re.compile(r"(?:^| )(?:" + "|".join(p.body for p in patterns) + ")")


def _split_top(text: str, sep: str) -> list[str]:
    """Split on `sep` outside brackets."""
    parts, depth, current = [], 0, []
    for ch in text:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return parts


def _elements(seq: str) -> list[str]:
    """Split a sequence into elements: words, (groups), [optional groups], ~ and #n."""
    elements, depth, current = [], 0, []
    for ch in seq.strip():
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        if ch == " " and depth == 0:
            if current:
                elements.append("".join(current))
            current = []
        else:
            current.append(ch)
    if current:
        elements.append("".join(current))
    return elements


def _element_regex(element: str) -> tuple[str, bool]:
    """Regex for one element (each followed by one space) and whether it is optional."""
    if element == "~":
        return GAP, True
    if element == "<n>":
        return NUMBER + " ", False
    if element.endswith("?"):
        return "(?:" + _element_regex(element[:-1])[0] + ")?", True
    optional = element.startswith("[")
    if element[0] in "([":
        if element[-1] not in ")]":
            raise ValueError(f"unbalanced group: {element!r}")
        alternatives = [_sequence_regex(alt) for alt in _split_top(element[1:-1], "|")]
        body = "(?:" + "|".join(alternatives) + ")"
        return (body + "?" if optional else body), optional
    return re.escape(element) + " ", False


def _sequence_regex(seq: str) -> str:
    return "".join(_element_regex(el)[0] for el in _elements(seq))


# Words too common to make a useful anchor: a pattern anchored on one would be tried on most messages.
COMMON_WORDS = frozenset(
    "em minh toi con tao ban anh chi no khong dang bi co la di thi da roi voi cho de se muon lam nguoi "
    "va ma cung nay do kia qua lam thay noi bao hay moi nhu gi sao vay nua duoc ra vao len xuong tren "
    "o mot cai nhung cac nhieu it rat that luon ay tu so bat doi gap chuyen cao danh dang ai cua mat nao nha "
    "mang gui tra trong day lai cong an nhan tien me dau ket tam cam lo tung video hoc truong lop gio".split()
)


def _words_of(element: str) -> set[str] | None:
    """Words one of which must occur wherever this element matches, or None if that can't be said."""
    if element in ("~", "<n>") or element.startswith("[") or element.endswith("?"):
        return None
    if element.startswith("("):
        words: set[str] = set()
        for alt in _split_top(element[1:-1], "|"):
            best = _best_anchor(_elements(alt))
            if best is None:
                return None
            words |= best
        return words
    return {element}


def _best_anchor(elements: list[str]) -> set[str] | None:
    """Among the mandatory elements, the word set least likely to occur (uncommon words, fewest)."""
    options = [w for w in (_words_of(el) for el in elements) if w]
    if not options:
        return None
    return min(options, key=lambda words: (len(words & COMMON_WORDS), len(words)))


def compile_pattern(source: str) -> CompiledPattern:
    # Every word in the folded text is followed by one space (see Screen), so a pattern that ends a
    # word boundary matches whole words only.
    body = _sequence_regex(source)
    re.compile(body)  # fail early, naming the pattern
    elements = _elements(source)
    anchors = _best_anchor(elements) or set()
    required = tuple(frozenset(w) for w in (_words_of(el) for el in elements) if w)
    return CompiledPattern(source, body, frozenset(anchors), required)
