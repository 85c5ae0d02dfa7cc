"""The Vietnamese NLU: the tokenizer component (run inside the Rasa environment) and held-out scores."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from benchmarks.nlu_eval import HELDOUT, rasa_test_nlu, unaccented_copy
from bot.config import PROJECT_ROOT
from bot.nlu.normalize import fold_word, folded_text, has_diacritics, strip_accents

RASA_PYTHON = PROJECT_ROOT / ".venv-rasa" / "bin" / "python"
TOKENIZE_SCRIPT = """
import json, sys
from rasa.shared.nlu.training_data.message import Message
from bot.nlu.tokenizer import VietnameseTokenizer
mode = sys.argv[1]
tokenizer = VietnameseTokenizer({**VietnameseTokenizer.get_default_config(), "compounds": mode})
for line in sys.stdin.read().splitlines():
    tokens = tokenizer.tokenize(Message({"text": line}), "text")
    print(json.dumps([[t.text, t.start, t.end] for t in tokens], ensure_ascii=False))
"""


def rasa_tokenize(lines: list[str], mode: str = "underthesea") -> list[list[list]]:
    result = subprocess.run(
        [str(RASA_PYTHON), "-c", TOKENIZE_SCRIPT, mode], input="\n".join(lines), capture_output=True, text=True,
        cwd=PROJECT_ROOT, env={"PYTHONPATH": str(PROJECT_ROOT), "TF_CPP_MIN_LOG_LEVEL": "3"}, check=True,
    )
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_normalise_accents_teen_code_and_repeats() -> None:
    assert strip_accents("Bắt nạt ĐỨA") == "Bat nat DUA"
    assert fold_word("mik") == ("minh",)
    assert fold_word("ntn") == ("nhu", "the", "nao")
    assert fold_word("buồnnnn") == ("buon",)
    assert fold_word("cứuuu") == ("cuu",)  # "uu" is a real Vietnamese ending: kept
    assert folded_text("ko mún sống nữa 😢") == "khong muon song nua 😢"
    assert has_diacritics("bắt nạt") and not has_diacritics("bat nat 😢")


def test_tokenizer_gives_same_tokens_with_and_without_diacritics() -> None:
    accented, plain, teen = rasa_tokenize(
        ["tôi bị bắt nạt trên mạng", "toi bi bat nat tren mang", "t bi bat nattt tren mang"]
    )
    assert [t[0] for t in accented] == [t[0] for t in plain]
    assert "bat_nat" in [t[0] for t in accented]
    assert {"bat", "nat", "tren", "mang"} <= {t[0] for t in teen}


def test_tokenizer_offsets_point_into_the_text() -> None:
    text = "Mik ko mún bị lộ số điện thoại"
    (tokens,) = rasa_tokenize([text])
    for _text, start, end in tokens:
        assert text[start:end]  # every token covers real text
    assert tokens[0][1:] == [0, 3]


def test_tokenizer_handles_emoji_and_punctuation_only() -> None:
    emoji, punctuation = rasa_tokenize(["😭😭", "???"])
    assert [t[0] for t in emoji] == ["😭", "😭"]
    assert punctuation == [["???", 0, 3]]


def test_syllable_mode_has_no_compounds() -> None:
    (tokens,) = rasa_tokenize(["bắt nạt trên mạng"], mode="none")
    assert all("_" not in t[0] for t in tokens)


@pytest.fixture(scope="module")
def heldout_scores(model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("nlu")
    plain = unaccented_copy(HELDOUT, tmp / "heldout_unaccented.yml")
    # `--model models/` is the documented contract: Rasa picks the model in the folder.
    return {
        "accented": rasa_test_nlu(HELDOUT, PROJECT_ROOT / "models", tmp / "accented"),
        "unaccented": rasa_test_nlu(plain, model_path, tmp / "unaccented"),
    }


@pytest.mark.parametrize("variant", ["accented", "unaccented"])
def test_heldout_macro_f1_floor(heldout_scores: dict, variant: str) -> None:
    score = heldout_scores[variant]
    contract = {
        "greet", "goodbye", "thank", "ask_bullying", "ask_grooming", "ask_sextortion", "ask_privacy", "ask_scam",
        "ask_harmful_content", "report_incident", "express_distress", "ask_hotline", "request_human",
        "parent_guidance",
    }
    assert contract <= set(score.per_intent)
    assert score.macro_f1 >= MACRO_F1_FLOOR, score.weakest(5)
    assert min(score.per_intent.values()) >= PER_INTENT_FLOOR, score.weakest(5)


# Floors under the measured figures in the README, so that a regression fails the build. Trainings of the same
# data differ (TensorFlow on several threads is not bit-for-bit reproducible): on 2026-12-02 two trainings gave
# macro-F1 0.899 and 0.904 (0.924 on 2026-12-01), and ask_privacy 0.68 in both: with 11 messages in two
# spellings, one message is 0.09 of an intent's F1.
MACRO_F1_FLOOR = 0.88
PER_INTENT_FLOOR = 0.65


def test_underthesea_mode_uses_word_tokenize_on_accented_text() -> None:
    accented, plain = rasa_tokenize(["có người lạ nhắn tin làm quen", "co nguoi la nhan tin lam quen"], "underthesea")
    assert {"nhan_tin", "lam_quen"} <= {t[0] for t in accented}  # underthesea's segmentation
    assert {"co", "nguoi", "la", "nhan", "tin"} <= {t[0] for t in plain}  # syllables always there
