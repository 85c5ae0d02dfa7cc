"""Rasa graph component: a Vietnamese tokenizer that works on accented and unaccented text alike.

Every syllable becomes a token in folded form (accents stripped, teen code expanded, letter runs
folded), so "bắt nạt", "bat nat" and "bắt nạttt" give the same tokens. Multi-syllable words are added
as extra tokens ("bat_nat"). Where they come from is the `compounds` option:
- "lexicon" (default): a greedy longest match against underthesea's own word list (Viet74K), folded
  the same way, so accented and unaccented text get the same compounds;
- "underthesea": underthesea's offline `word_tokenize` on accented text (it mis-segments unaccented
  text, "toi bi_bat nat", so unaccented text falls back to the lexicon);
- "both": the union of the two on accented text; "none": syllables only.
On the held-out set "lexicon" scored best (README, "NLU"): children mix accented and unaccented
writing, and one segmentation for both beats a better segmentation for half of them.

Imported only by Rasa (Python 3.10 environment): keep imports to rasa, underthesea and the stdlib.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Dict, List

from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.training_data.message import Message

from bot.nlu import normalize

MAX_COMPOUND = 4
COMPOUND_MODES = ("both", "underthesea", "lexicon", "none")


@lru_cache(maxsize=1)
def compound_lexicon() -> frozenset[tuple[str, ...]]:
    """Multi-syllable entries of underthesea's Viet74K word list, in folded form."""
    import underthesea.corpus

    path = Path(underthesea.corpus.__file__).parent / "data" / "Viet74K.txt"
    entries = set()
    for line in path.read_text(encoding="utf-8").splitlines():
        words = tuple(w for t in normalize.tokenize(line) for w in t.folded)
        if 1 < len(words) <= MAX_COMPOUND:
            entries.add(words)
    return frozenset(entries)


def lexicon_spans(words: List[str]) -> List[tuple[int, int]]:
    """Greedy longest-match spans (start, end) over folded words that form a known compound."""
    lexicon = compound_lexicon()
    spans, i = [], 0
    while i < len(words):
        for size in range(min(MAX_COMPOUND, len(words) - i), 1, -1):
            if tuple(words[i : i + size]) in lexicon:
                spans.append((i, i + size))
                i += size
                break
        else:
            i += 1
    return spans


def underthesea_spans(text: str, syllables: List[normalize.Token]) -> List[tuple[int, int]] | None:
    """Compound spans (over syllable indexes) from underthesea; None if its words can't be aligned."""
    from underthesea import word_tokenize

    spans, i = [], 0
    for word in word_tokenize(text):
        size = len(normalize.tokenize(word))
        if size > 1:
            spans.append((i, i + size))
        i += size
    return spans if i == len(syllables) else None


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.MESSAGE_TOKENIZER, is_trainable=False)
class VietnameseTokenizer(Tokenizer):
    """Folded syllable tokens plus compound-word tokens for Vietnamese chat text."""

    @staticmethod
    def get_default_config() -> Dict[str, Any]:
        return {
            "intent_tokenization_flag": False,
            "intent_split_symbol": "_",
            "token_pattern": None,
            "prefix_separator_symbol": None,
            # "lexicon" | "underthesea" | "both" | "none": see the module docstring.
            "compounds": "lexicon",
        }

    def __init__(self, config: Dict[str, Any]) -> None:
        super().__init__(config)
        self.compounds = self._config["compounds"]
        if self.compounds not in COMPOUND_MODES:
            raise ValueError(f"compounds must be one of {COMPOUND_MODES}, not {self.compounds!r}")

    @classmethod
    def create(
        cls,
        config: Dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> VietnameseTokenizer:
        return cls(config)

    def tokenize(self, message: Message, attribute: str) -> List[Token]:
        text = message.get(attribute) or ""
        syllables = normalize.tokenize(text)
        if not syllables:
            return [Token(text, 0)] if text else []

        tokens: List[Token] = []
        for syl in syllables:
            for word in syl.folded:
                tokens.append(Token(word, syl.start, syl.end))
        for start, end in self._compound_spans(text, syllables):
            parts = [w for syl in syllables[start:end] for w in syl.folded]
            tokens.append(Token("_".join(parts), syllables[start].start, syllables[end - 1].end))
        tokens.sort(key=lambda t: (t.start, t.end))
        return self._apply_token_pattern(tokens)

    def _compound_spans(self, text: str, syllables: List[normalize.Token]) -> List[tuple[int, int]]:
        if self.compounds == "none":
            return []
        # Lexicon matching works on single folded words; teen-code expansions count as one slot each.
        words = [syl.folded[0] if len(syl.folded) == 1 else "_".join(syl.folded) for syl in syllables]
        from_lexicon = lexicon_spans(words)
        if self.compounds == "lexicon" or not normalize.has_diacritics(text):
            return from_lexicon
        from_underthesea = underthesea_spans(text, syllables)
        if from_underthesea is None:  # its words could not be aligned with ours
            return from_lexicon
        if self.compounds == "underthesea":
            return from_underthesea
        # "both": the lexicon's words (the same with or without accents) plus those that only
        # underthesea's context-aware segmentation finds in accented text.
        return sorted(set(from_lexicon) | set(from_underthesea))
