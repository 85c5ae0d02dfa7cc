"""The learned risk model beside the lexicon: the same numbers as scikit-learn, a safe artefact, the decision
rules (explicit phrases are never lowered, the middle band asks), and the figures on the unseen test split."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bot.config import Settings
from bot.gateway import PIPELINE, STORE, TEXTS
from bot.safety import Screen
from bot.safety.evaluate import evaluate, load_rows
from bot.safety.model import RiskModel, Thresholds
from bot.safety.screen import MIN_WORDS_FOR_MODEL_CRISIS, POSSIBLE_RISK
from bot.safety.train import DATA_DIR, fit_pipeline, from_pipeline, training_files
from tests.helpers import chat, gateway, new_user

LIMITS = Thresholds(high=0.5, imminent=0.5, possible=0.3, concern=0.5, harmless=0.9)


@pytest.fixture(scope="module")
def screen() -> Screen:
    screen = Screen.from_file()
    assert screen.model is not None, "bin/train trains the risk model before the tests"
    return screen


def test_run_time_model_gives_scikit_learns_probabilities(tmp_path: Path) -> None:
    rows = [row for path in training_files()[:2] for row in load_rows(path)][:600]
    pipeline = fit_pipeline(rows)
    model = from_pipeline(pipeline)
    dev = [row.text for row in load_rows(DATA_DIR / "dev.tsv")[:100]] + ["", "😭😭", "ko muon song nua"]
    expected = pipeline.predict_proba(dev)
    for text, row in zip(dev, expected, strict=True):
        got = model.probabilities(text)
        assert max(abs(got[c] - p) for c, p in zip(pipeline.classes_, row, strict=True)) < 1e-9, text
    model.save(tmp_path / "risk-test.npz")  # arrays and text only: loading never unpickles anything
    again = RiskModel.load(tmp_path / "risk-test.npz")
    assert again.probabilities("e muốn chết") == model.probabilities("e muốn chết")
    assert again.thresholds == model.thresholds


def test_an_explicit_phrase_is_never_lowered_and_an_idiom_is(screen: Screen) -> None:
    harmless = {"none": 0.97, "concern": 0.01, "high": 0.01, "imminent": 0.01}
    plan = screen.lexicon_assessment("tối nay e sẽ tự tử")
    assert "suicide_plan_now" in screen.explicit and screen.decide(plan, harmless, LIMITS).risk == "imminent"
    idea = screen.lexicon_assessment("ko muon song nua")
    assert idea.risk == "high" and not screen.explicit & set(idea.signals)
    lowered = screen.decide(idea, harmless, LIMITS)  # a risk phrase is never dismissed: asked gently instead
    assert lowered.risk == "concern" and {"lowered_by_model", POSSIBLE_RISK} <= set(lowered.signals)
    worry = screen.lexicon_assessment("e buồn quá")
    assert worry.risk == "concern" and screen.decide(worry, harmless, LIMITS).risk == "none"


def test_the_model_raises_and_its_middle_band_is_a_question(screen: Screen) -> None:
    quiet = screen.lexicon_assessment("mọi thứ cứ trôi đi thôi")
    assert quiet.risk == "none"
    high = screen.decide(quiet, {"none": 0.2, "concern": 0.1, "high": 0.6, "imminent": 0.1}, LIMITS)
    assert high.risk == "high" and any(s.startswith("model:high=") for s in high.signals)
    imminent = screen.decide(quiet, {"none": 0.1, "concern": 0.1, "high": 0.2, "imminent": 0.6}, LIMITS)
    assert imminent.risk == "imminent"
    possible = screen.decide(quiet, {"none": 0.55, "concern": 0.05, "high": 0.3, "imminent": 0.1}, LIMITS)
    assert possible.risk == "concern" and POSSIBLE_RISK in possible.signals


def test_a_very_short_message_is_asked_not_alarmed_on_the_models_word_alone(screen: Screen) -> None:
    risky = {"none": 0.1, "concern": 0.1, "high": 0.2, "imminent": 0.6}
    short = screen.lexicon_assessment("Tạm biệt :))")
    assert screen.word_count("Tạm biệt :))") < MIN_WORDS_FOR_MODEL_CRISIS
    asked = screen.decide(short, risky, LIMITS, screen.word_count("Tạm biệt :))"))
    assert asked.risk == "concern" and POSSIBLE_RISK in asked.signals
    # The lexicon's own words still carry a short message, and the model may raise them further.
    assert screen.assess_text("kms").at_least("high")
    assert screen.decide(screen.lexicon_assessment("kms tonight"), risky, LIMITS, 2).risk == "imminent"


async def test_possible_risk_is_asked_gently_and_the_answer_settles_it(settings: Settings) -> None:
    from tests.test_handover import FakeRasa

    async with FakeRasa() as rasa, gateway(dataclasses.replace(settings, rasa_url=rasa.url)) as client:
        pipeline = client.app[PIPELINE]
        band = {"none": 0.55, "concern": 0.05, "high": 0.3, "imminent": 0.1}
        pipeline.screen.model = _FixedModel(band)
        child, store, texts = new_user(), client.app[STORE], client.app[TEXTS]
        replies = [r["text"] for r in await chat(client, child, "dạo này e thấy mọi thứ trôi đi hết")]
        asked = [m.text for m in texts.render("utter_check_possible")]
        assert replies[-len(asked):] == asked  # Rasa's answer, then the gentle question; no crisis reply
        contact = store.find_contact("webchat", child)
        assert pipeline.handover.open_case_for(contact.id) is None  # no case yet
        pipeline.screen.model = _FixedModel({"none": 0.9, "concern": 0.05, "high": 0.03, "imminent": 0.02})
        replies = [r["text"] for r in await chat(client, child, "có")]
        assert replies[0] == texts.render("utter_check_thinking_yes")[0].text
        case = pipeline.handover.open_case_for(contact.id)
        assert case is not None and case.risk == "high"  # yes: a case, and the notice that is true now
        assert any("111" in r for r in replies)

        other = new_user()
        await chat(client, other, "mệt quá")
        pipeline.screen.model = _FixedModel(band)
        await chat(client, other, "dạo này e thấy mọi thứ trôi đi hết")
        pipeline.screen.model = _FixedModel({"none": 0.9, "concern": 0.05, "high": 0.03, "imminent": 0.02})
        replies = [r["text"] for r in await chat(client, other, "không")]
        assert replies[0] == texts.render("utter_check_thinking_no")[0].text  # no: carry on
        flagged = [m for m in store.transcript(store.find_contact("webchat", other).id) if m.direction == "in"]
        assert POSSIBLE_RISK in (flagged[1].signals or "")  # the flag stays for a counsellor to see
        pipeline.screen.model = _FixedModel(band)
        again = [r["text"] for r in await chat(client, other, "dạo này e thấy mọi thứ trôi đi hết")]
        assert again and asked[0] not in again  # asked once a day at most, not at every hunch


class _FixedModel:
    """A stand-in for the trained model that always reads the same probabilities (for the pipeline test)."""

    def __init__(self, probs: dict[str, float]) -> None:
        self.probs = probs
        self.thresholds = LIMITS

    def probabilities(self, _text: str) -> dict[str, float]:
        return self.probs


def test_figures_on_the_unseen_test_split(screen: Screen) -> None:
    """tests/data/risk/test_*.tsv: written by authors who wrote nothing else here; never trained or tuned on."""
    rows = [row for path in sorted(DATA_DIR.glob("test_*.tsv")) for row in load_rows(path)]
    report = evaluate(screen, rows)
    assert report.total >= 1900
    assert report.recall_high_or_above >= FLOORS["recall_high_or_above"]
    assert report.caught_high_or_above >= FLOORS["caught"]
    assert report.recall["imminent"] >= FLOORS["imminent_exact"]
    assert report.false_positive_rate <= FLOORS["false_positive_rate"]


# What the screen reaches on the test split (README "Safety screen"); floors, so that it never gets worse.
# Measured 2026-12-02 on 1,900 messages by three authors: 0.880 / 0.938 caught / 0.943 / 0.047 (docs/safety.md);
# floors a little under them.
FLOORS = {"recall_high_or_above": 0.86, "caught": 0.92, "imminent_exact": 0.92, "false_positive_rate": 0.06}


def test_the_reply_fits_who_is_doing_harm(screen: Screen) -> None:
    """Seen in the issue: fear of being hit by a bully got the self-harm question."""
    bully = screen.assess("mik có nên nói vs cô chủ nhiệm ko, sợ nó biết lại đánh mik")
    assert bully.at_least("high") and screen.is_abuse_only(bully)
    assert not screen.is_abuse_only(screen.assess("nó đánh e xong e muốn chết luôn"))
