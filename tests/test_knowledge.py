"""The knowledge base as data: every answer short, correct in form and reachable; the speaker, language and
app cues; the choice of sub-question from Rasa's ranking. No Rasa here (see test_knowledge_rasa.py)."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from actions.answers import TOPIC_INTENTS
from bot.knowledge.catalogue import catalogue, markdown
from bot.knowledge.catalogue import keys as catalogue_keys
from bot.knowledge.howto import howtos
from bot.knowledge.language import Language, detect_language
from bot.knowledge.selection import HOWTO_TASKS, ChosenBy, choose_answer, topic_of_signals
from bot.knowledge.speaker import Speaker, detect_speaker
from bot.texts import Texts, load_responses

ROOT = Path(__file__).resolve().parents[1]
RESPONSES: dict[str, list[dict]] = load_responses(ROOT / "domain.yml")
KNOWLEDGE = {name: variants for name, variants in RESPONSES.items() if "/" in name}
KEYS = frozenset(name.removeprefix("utter_") for name in KNOWLEDGE)
AUTHOR_FILES = sorted((ROOT / "nlu_data" / "knowledge").glob("*.yml"))

MAX_ANSWER = 600
MAX_FOLLOW_UP = 160
URL = re.compile(r"https?://|www\.|\b[\w-]+\.(com|vn|org|net|gov|io)\b", re.IGNORECASE)
ALLOWED_NUMBERS = {"111", "113", "115"}
NUMBER = re.compile(r"(?<![\d.,])\d[\d .-]{2,}\d(?![\d])|\b\d{3,}\b")
YEAR = re.compile(r"^(19|20)\d\d$")


def variants_of(name: str) -> list[tuple[str, dict]]:
    """(audience-language label, variation) for each variation of a response."""
    labelled = []
    for variant in RESPONSES[name]:
        condition = {c["name"]: c["value"] for c in variant.get("condition") or ()}
        label = "en" if condition.get("language") == "en" else condition.get("audience", "child")
        labelled.append((label, variant))
    return labelled


def examples_by_key() -> dict[str, dict[str, int]]:
    """intent/key -> author file -> number of training examples."""
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for path in AUTHOR_FILES:
        for block in yaml.safe_load(path.read_text(encoding="utf-8"))["nlu"]:
            lines = [line for line in block["examples"].splitlines() if line.strip().startswith("- ")]
            counts[block["intent"]][path.stem] += len(lines)
    return counts


def test_the_knowledge_base_is_large_enough() -> None:
    per_topic = defaultdict(set)
    for key in KEYS:
        intent, sub = key.split("/")
        per_topic[intent].add(sub)
    assert set(per_topic) == set(TOPIC_INTENTS)
    assert all(len(subs) >= 12 for subs in per_topic.values()), {t: len(s) for t, s in per_topic.items()}
    assert len(KEYS) >= 100


@pytest.mark.parametrize("name", sorted(KNOWLEDGE))
def test_every_answer_is_short_and_has_no_invented_contacts(name: str) -> None:
    labels = [label for label, _ in variants_of(name)]
    assert labels[0] == "child", "the first variation is the child's (the gateway renders the first one)"
    assert "adult" in labels, f"{name} has no answer for a parent or teacher"
    for label, variant in variants_of(name):
        text = variant["text"]
        assert len(text.strip()) <= MAX_ANSWER, f"{name} ({label}): {len(text.strip())} characters"
        assert text.strip().count("\n\n") <= 2, f"{name} ({label}): more than 3 messages"
        assert not URL.search(text), f"{name} ({label}) has an address: {URL.search(text).group(0)}"
        for number in NUMBER.findall(text):
            digits = re.sub(r"\D", "", number)
            assert digits in ALLOWED_NUMBERS or YEAR.match(digits), f"{name} ({label}): number {number!r}"
        if label == "adult":
            assert "{address}" in text, f"{name}: the adult answer does not address the adult"
            for sentence_start in re.findall(r"(?:^|[.!?]\s+|\n\s*(?:• )?)\{address\}", text):
                pytest.fail(f"{name}: {{address}} starts a sentence: {sentence_start!r}")
        else:
            assert "{address}" not in text


@pytest.mark.parametrize("name", sorted(KNOWLEDGE))
def test_every_child_answer_names_111(name: str) -> None:
    child = RESPONSES[name][0]["text"]
    assert "111" in child, f"{name}: 111 is not at hand"


def test_the_review_table_is_the_catalogue() -> None:
    assert catalogue_keys() == KEYS
    assert all(entry["source"] for entries in catalogue().values() for entry in entries.values())
    assert (ROOT / "docs" / "knowledge.md").read_text(encoding="utf-8").strip() == markdown().strip(), (
        "docs/knowledge.md is stale: .venv/bin/python -m bot.knowledge.catalogue > docs/knowledge.md")


def test_every_topic_answers_in_english() -> None:
    for intent in TOPIC_INTENTS:
        assert "en" in [label for label, _ in variants_of(f"utter_{intent}/general")], intent


def test_follow_ups_lead_somewhere() -> None:
    follow_ups = {n: v for n, v in RESPONSES.items() if n.startswith("utter_next_")}
    assert len(follow_ups) >= len(KEYS) // 2
    for name, (variant, *_) in follow_ups.items():
        key = name.removeprefix("utter_next_").replace("__", "/")
        assert key in KEYS, f"{name}: follow-up of an unknown answer"
        assert len(variant["text"].strip()) <= MAX_FOLLOW_UP
        assert variant.get("buttons"), f"{name}: a follow-up question without buttons"
        for button in variant["buttons"]:
            payload = button["payload"].replace("{{", "{").replace("}}", "}")
            match = re.fullmatch(r'/(\w+)(\{"subtopic":"([\w/]+)"\})?', payload)
            assert match, f"{name}: payload {payload!r}"
            intent, _, sub = match.groups()
            assert intent in (*TOPIC_INTENTS, "report_incident", "request_human"), payload
            assert sub is None or (sub in KEYS and sub.startswith(intent + "/")), payload


def test_every_sub_question_is_taught_by_several_authors() -> None:
    counts = examples_by_key()
    missing = sorted(KEYS - set(counts))
    assert not missing, f"sub-questions without training examples: {missing}"
    unknown = sorted(set(counts) - KEYS)
    assert not unknown, f"training examples for sub-questions without an answer: {unknown}"
    for key, by_author in counts.items():
        authors = [a for a, n in by_author.items() if n]
        assert len(authors) >= 3 and sum(by_author.values()) >= 10, (key, dict(by_author))


@pytest.mark.parametrize(
    ("text", "speaker", "address"),
    [
        ("chị hỏi chút, con chị 9 tuổi nên dùng điện thoại bao lâu", Speaker.PARENT, "chị"),
        ("con toi bi ban cung lop chui tren zalo", Speaker.PARENT, "anh/chị"),
        ("cháu nội tôi nghiện game quá", Speaker.PARENT, "ông/bà"),
        ("Tôi nên xử lý thế nào? Học sinh lớp tôi lập nhóm chat chế giễu một bạn", Speaker.TEACHER, "thầy/cô"),
        ("lớp cô chủ nhiệm có em bị tung ảnh", Speaker.TEACHER, "cô"),
        ("con bị bạn chửi trên mạng", None, None),  # a young child calls themselves "con"
        ("lop co dua chui e", None, None),  # "lớp có", not "lớp cô"
        ("e la con gai lop 7", None, None),
        ("chị ơi em bị lộ ảnh", None, None),  # a child calling the assistant "chị"
    ],
)
def test_the_speaker_is_read_from_the_wording(text: str, speaker: Speaker | None, address: str | None) -> None:
    cue = detect_speaker(text)
    assert (cue.speaker if cue else None) == speaker
    assert (cue.address if cue else None) == address


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("a stranger on Instagram asked for my photos and my address", Language.ENGLISH),
        ("someone want my picture, what i do", Language.ENGLISH),
        ("help e vs", Language.VIETNAMESE),
        ("my acc Free Fire bị hack", Language.VIETNAMESE),
        ("google family link dung the nao", Language.VIETNAMESE),
        ("ok", None),
    ],
)
def test_english_is_told_from_teen_code(text: str, language: Language | None) -> None:
    assert detect_language(text) == language


def test_apps_are_found_by_the_names_children_use() -> None:
    guide = howtos()
    assert guide.find_platform("nick ff cua e bi hack").key == "free_fire"
    assert guide.find_platform("tren face co dua chui e").key == "facebook"
    assert guide.find_platform("acc lien quan").key == "lien_quan"
    assert guide.find_platform("e bi chui") is None
    assert guide.find_control("con dùng iphone") == "ios_screen_time"
    assert guide.find_control("điện thoại android của cháu") == "family_link"


def test_every_how_to_task_has_steps_somewhere() -> None:
    guide = howtos()
    for key, tasks in HOWTO_TASKS.items():
        assert key in KEYS, key
        for task in tasks:
            assert task == "parental_controls" or guide.platforms_for((task,)), (key, task)
    for platform in guide.platforms.values():
        for text in platform.steps.values():
            assert len(text) <= 400 and not URL.search(text), platform.key


def ranking(*pairs: tuple[str, float]) -> dict:
    return {"response_selector": {"default": {"ranking": [
        {"intent_response_key": key, "confidence": c} for key, c in pairs]}}}


def test_the_selectors_first_choice_is_answered_unless_it_is_unsure() -> None:
    keys = frozenset({"ask_scam/general", "ask_scam/gave_otp_password", "ask_privacy/account_hacked_recover"})
    parse = ranking(("ask_privacy/account_hacked_recover", 0.85), ("ask_scam/gave_otp_password", 0.1),
                    ("ask_scam/general", 0.05))
    choice = choose_answer(parse, "ask_scam", keys)  # DIET said scam; the selector is far surer of another
    assert (choice.key, choice.chosen_by) == ("ask_privacy/account_hacked_recover", ChosenBy.SELECTOR)
    close = ranking(("ask_privacy/account_hacked_recover", 0.6), ("ask_scam/gave_otp_password", 0.3),
                    ("ask_scam/general", 0.1))
    # DIET's topic and a close second of the selector agree: that sub-question wins
    assert choose_answer(close, "ask_scam", keys).key == "ask_scam/gave_otp_password"
    unsure = ranking(("ask_scam/gave_otp_password", 0.04), ("ask_scam/x", 0.03))
    assert choose_answer(unsure, "ask_scam", keys).key == "ask_scam/general"
    assert choose_answer({}, "ask_scam", keys).key == "ask_scam/general"
    button = {"entities": [{"entity": "subtopic", "value": "ask_scam/gave_otp_password"}]}
    assert choose_answer(button, "ask_scam", keys).chosen_by == ChosenBy.BUTTON


def test_the_gateways_replies_have_english_and_adult_twins_with_111() -> None:
    texts = Texts(RESPONSES)
    for base in ("utter_safety_high", "utter_safety_abuse", "utter_safety_imminent", "utter_check_possible"):
        english = " ".join(m.text for m in texts.render(base, Language.ENGLISH))
        assert detect_language(english) == Language.ENGLISH and "111" in english, base
    for name in RESPONSES:
        if name.endswith(("_en", "_adult")):
            assert name.rsplit("_", 1)[0] in RESPONSES, f"{name} has no Vietnamese original"
            assert "111" in RESPONSES[name][0]["text"] or name.startswith("utter_handover"), name
    assert texts.render("utter_safety_high", None)[0].text == texts.render("utter_safety_high")[0].text


def test_a_counsellor_is_one_tap_away_after_every_answer() -> None:
    for name, (variant, *_) in RESPONSES.items():
        if name.startswith("utter_next_"):
            assert any(b["payload"] == "/request_human" for b in variant["buttons"]), name


def test_a_conversation_keeps_its_topic() -> None:
    keys = frozenset({"ask_scam/general", "ask_scam/already_paid_scammer", "ask_sextortion/should_i_pay",
                      "ask_sextortion/general"})
    parse = ranking(("ask_scam/already_paid_scammer", 0.5), ("ask_sextortion/should_i_pay", 0.2))
    assert choose_answer(parse, "ask_scam", keys).key == "ask_scam/already_paid_scammer"
    assert choose_answer(parse, "ask_scam", keys, context="ask_sextortion").key == "ask_sextortion/should_i_pay"
    far = ranking(("ask_scam/already_paid_scammer", 0.9), ("ask_sextortion/should_i_pay", 0.05))
    assert choose_answer(far, "ask_scam", keys, context="ask_sextortion").key == "ask_scam/already_paid_scammer"
    assert topic_of_signals(("fear", "sextortion")) == "ask_sextortion"


def test_a_close_specific_answer_beats_the_topics_general_one() -> None:
    keys = frozenset({"ask_privacy/general", "ask_privacy/make_account_private", "ask_privacy/delete_old_posts"})
    close = ranking(("ask_privacy/general", 0.37), ("ask_privacy/make_account_private", 0.34),
                    ("ask_privacy/delete_old_posts", 0.03))
    assert choose_answer(close, "ask_privacy", keys).key == "ask_privacy/make_account_private"
    clear = ranking(("ask_privacy/general", 0.8), ("ask_privacy/make_account_private", 0.1))
    assert choose_answer(clear, "ask_privacy", keys).key == "ask_privacy/general"
