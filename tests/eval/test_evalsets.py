from __future__ import annotations

from collections import Counter

import pytest

from personatune.errors import UserError
from personatune.eval.answer_checks import (
    CHECK_KINDS,
    check_answer,
    count_items,
    normalise,
    numbers_in,
)
from personatune.eval.evalset_items import GeneralItem
from personatune.eval.evalsets import (
    balanced,
    load_general,
    load_neutral,
    load_transfer,
    transfer_prompts,
)

GENERAL = load_general()
NEUTRAL = load_neutral()
TRANSFER = load_transfer()
CHECKED = [item for item in GENERAL if item.check is not None]

# Words that would make a prompt about the example persona (a woodworker who makes videos) or invite
# talk about oneself; a neutral prompt containing one would measure prompted, not unprompted, bleed.
PERSONA_WORDS = [
    "woodwork", "woodworking", "woodworker", "wood", "wooden", "lumber", "timber", "carpentry", "joinery",
    "chisel", "plane", "saw", "workshop", "shop", "workbench", "tool", "tools", "glue", "dovetail",
    "sanding", "varnish", "youtube", "video", "videos", "channel", "my channel", "subscribe", "viewer",
    "viewers", "vlog", "filming", "camera", "grandfather", "grandmother", "grandpa", "marta", "kowalczyk",
    "gdansk", "poland", "minnesota", "duluth", "lake superior", "border collie", "yourself", "your life",
    "your childhood", "your family", "you like",
]


def item(**check) -> GeneralItem:
    return GeneralItem("x", "prompt", "test", "reference", check)


def test_sizes():
    assert len(GENERAL) >= 60
    assert len(NEUTRAL) >= 60
    assert len(TRANSFER.templates) >= 8
    assert len(CHECKED) >= 0.8 * len(GENERAL)


@pytest.mark.parametrize("items", [GENERAL, NEUTRAL, TRANSFER.templates], ids=["general", "neutral", "transfer"])
def test_unique_ids(items):
    assert [i for i, n in Counter(x.id for x in items).items() if n > 1] == []


def test_every_check_kind_and_category_is_used():
    used = {kind for entry in CHECKED for kind in entry.check}
    assert used == set(CHECK_KINDS)
    assert any(entry.check is None for entry in GENERAL)
    assert len({entry.category for entry in GENERAL}) >= 8
    assert len({entry.category for entry in NEUTRAL}) >= 8


@pytest.mark.parametrize("entry", CHECKED, ids=lambda e: e.id)
def test_reference_passes_and_wrong_answers_fail(entry):
    assert check_answer(entry, entry.reference) is True, entry.reference
    assert check_answer(entry, "I don't know.") is False
    assert check_answer(entry, "") is False
    # A model that only repeats the question must not score.
    assert check_answer(entry, entry.prompt) is False


def test_balanced_covers_every_category():
    categories = {e.category for e in GENERAL}
    picked = balanced(GENERAL, len(categories))
    assert {e.category for e in picked} == categories
    assert balanced(GENERAL, 30) == balanced(GENERAL, 30) and len(balanced(GENERAL, 30)) == 30
    assert sorted(e.id for e in balanced(NEUTRAL, 10_000)) == sorted(e.id for e in NEUTRAL)


def test_open_ended_items_have_no_verdict():
    entry = next(e for e in GENERAL if e.check is None)
    assert entry.reference.strip()
    assert check_answer(entry, entry.reference) is None


@pytest.mark.parametrize("text", [e.prompt for e in NEUTRAL] + [e.prompt + " " + e.reference for e in GENERAL])
def test_prompts_stay_clear_of_the_persona(text):
    words = f" {normalise(text)} "
    assert [w for w in PERSONA_WORDS if f" {normalise(w)} " in words] == []


# ---------------------------------------------------------------- check semantics


@pytest.mark.parametrize("answer, value", [
    ("12", 12), ("twelve", 12), ("It is Twelve.", 12), ("twenty-one", 21), ("ninety nine", 99),
    ("one hundred and eighty minutes", 180), ("a hundred", 100), ("1,000 people", 1000),
    ("three thousand five hundred", 3500), ("zero degrees", 0), ("0°C", 0), ("2.5 kg", 2.5),
    ("x = -3", -3), ("10-7=3", 3), ("the 12th", 12), ("seventy", 70),
])
def test_number_states_the_value(answer, value):
    assert check_answer(item(number=value), answer)


@pytest.mark.parametrize("answer, value", [
    ("14", 4), ("one two three", 6), ("twenty", 21), ("1.5", 5), ("I don't know", 0), ("v12", 12),
])
def test_number_rejects_other_values(answer, value):
    assert not check_answer(item(number=value), answer)


def test_numbers_in_reads_digits_and_words():
    assert numbers_in("one two three") == [1, 2, 3]
    assert numbers_in("7 + 5 = twelve") == [7, 5, 12]


@pytest.mark.parametrize("answer", ["Bogotá", "BOGOTÁ!", "It's Bogota.", "bogota"])
def test_contains_ignores_accents_case_and_punctuation(answer):
    assert check_answer(item(contains_any=["bogota"]), answer)
    assert check_answer(item(contains_any=["Bogotá"]), answer)


def test_contains_matches_whole_words():
    assert check_answer(item(contains_any=["red"]), "Red, yellow and blue")
    assert not check_answer(item(contains_any=["red"]), "a hundred")
    assert check_answer(item(contains_any=["buenos dias"]), "¡Buenos días!")
    assert check_answer(item(contains_any=["gdansk"]), "Gdańsk") and check_answer(item(contains_any=["lodz"]), "Łódź")
    assert check_answer(item(contains_any=["dont"]), "I don’t")
    assert check_answer(item(contains_all=["central", "processing", "unit"]), "Central Processing Unit")
    assert not check_answer(item(contains_all=["central", "processing", "unit"]), "Central unit")


def test_symbol_needles_are_literal():
    assert check_answer(item(contains_any=["print("]), 'PRINT("hi")')
    assert not check_answer(item(contains_any=["print("]), "print it")
    assert check_answer(item(contains_any=["#"]), "Use # for comments")
    assert not check_answer(item(contains_any=["len(items)"]), "len items")


def test_regex_is_case_sensitive_on_the_raw_answer():
    assert check_answer(item(regex="HELLO"), "HELLO")
    assert not check_answer(item(regex="HELLO"), "hello")
    assert check_answer(item(regex="(?i)hello"), "Hello")


def test_max_words_and_combined_kinds():
    assert check_answer(item(max_words=3), "Yes, it is.")
    assert not check_answer(item(max_words=3), "Yes, it is hot.")
    assert not check_answer(item(max_words=3), "  ")
    both = item(contains_any=["yes"], max_words=3)
    assert check_answer(both, "Yes.") and not check_answer(both, "No.")
    assert not check_answer(both, "yes yes yes yes")


@pytest.mark.parametrize("answer, count", [
    ("Red, yellow and blue.", 3),
    ("The primary colours are red, yellow, and blue.", 3),
    ("- apples\n- bread\n- milk", 3),
    ("Here are three:\n1. Apple\n2. Banana\n3. Orange", 3),
    ("Red\nBlue\nYellow", 3),
    ("I don't know.", 1),
    ("", 0),
])
def test_count_items(answer, count):
    assert count_items(answer) == count


# ---------------------------------------------------------------- transfer prompts

TOPICS = ["sharpening angles", "hard wax oil", "cut lists", "shop layout"]


def test_transfer_prompts_fill_slots_deterministically():
    first = transfer_prompts(TOPICS, 20, seed=3)
    assert first == transfer_prompts(TOPICS, 20, seed=3)
    assert [p.prompt for p in first] != [p.prompt for p in transfer_prompts(TOPICS, 20, seed=4)]
    assert len(first) == 20 and len({p.id for p in first}) == 20
    for p in first:
        assert "{" not in p.prompt and p.topic in TOPICS and p.topic in p.prompt
        template = next(t for t in TRANSFER.templates if t.id == p.template_id)
        assert (p.question is not None) == ("question" in template.slots)
        if p.question:
            assert p.question in p.prompt
    # The first round uses every template once, so a small n still covers every kind.
    assert {p.template_id for p in first[: len(TRANSFER.templates)]} == {t.id for t in TRANSFER.templates}


def test_transfer_prompts_never_repeat_a_pair_and_clean_topics():
    prompts = transfer_prompts(["Shellac", " shellac ", "", "glue  ups", "Glue-ups"], 1000)
    assert len(prompts) == 2 * len(TRANSFER.templates)
    assert {p.topic for p in prompts} == {"Shellac", "glue ups"}
    assert transfer_prompts(TOPICS, 0) == []
    with pytest.raises(UserError, match="at least one topic"):
        transfer_prompts(["", "  "], 5)


def test_every_template_declares_a_known_slot():
    for template in TRANSFER.templates:
        assert template.slots and set(template.slots) <= {"topic", "question"}
    assert all("{topic}" in stem for stem in TRANSFER.questions)


# ---------------------------------------------------------------- user files and validation


def test_user_file_replaces_or_extends(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("items:\n- {id: my-one, category: facts, prompt: 'Capital of Peru?', "
                    "check: {contains_any: [lima]}, reference: Lima.}\n")
    mine = load_general(path)
    assert [e.id for e in mine] == ["my-one"] and check_answer(mine[0], "It is Lima.")
    assert len(load_general(path, extend=True)) == len(GENERAL) + 1
    path.write_text("items:\n- {id: my-one, category: facts, prompt: 'Hi?'}\n")
    assert [e.prompt for e in load_neutral(path)] == ["Hi?"]


@pytest.mark.parametrize("body, message", [
    ("items: [ {id: a, prompt: 'x'", "not valid YAML at line"),
    ("- just a list", "'items:' list"),
    ("items:\n- {id: a, category: c, prompt: p, reference: r, check: {contain_any: [x]}}",
     "item #1 ('a'): unknown check kind 'contain_any'"),
    ("items:\n- {id: a, category: c, prompt: p, reference: r, check: {number: twelve}}", "number must be a number"),
    ("items:\n- {id: a, category: c, prompt: p, reference: r, check: {regex: '('}}", "regex does not compile"),
    ("items:\n- {id: a, category: c, prompt: p, reference: r, check: {max_words: 0}}", "max_words must be"),
    ("items:\n- {id: a, category: c, prompt: p, reference: r, check: {contains_all: []}}", "non-empty list"),
    ("items:\n- {id: a, category: c, prompt: p, reference: r}", "item #1 ('a'): missing check"),
    ("items:\n- {id: a, category: c, prompt: p, reference: r, check: none, note: n}", "unknown field note"),
    ("items:\n- {id: Bad Id, category: c, prompt: p, reference: r, check: none}", "lowercase slug"),
    ("items:\n- {id: a, category: c, prompt: p, reference: r, check: none}\n"
     "- {id: a, category: c, prompt: q, reference: r, check: none}", "item #2 ('a'): duplicate id 'a'"),
])
def test_bad_general_file_gives_one_clear_error(tmp_path, body, message):
    path = tmp_path / "bad.yaml"
    path.write_text(body)
    with pytest.raises(UserError, match="bad.yaml") as caught:
        load_general(path)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_all_problems_reported_at_once(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("items:\n- {id: a, category: c, prompt: p}\n- {id: b, prompt: ''}\n")
    with pytest.raises(UserError, match=r"3 problem\(s\)") as caught:
        load_general(path)
    assert "item #1 ('a'): missing check, reference" in str(caught.value)
    assert "item #2 ('b'): missing category" in str(caught.value)


def test_extending_with_a_builtin_id_is_an_error(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text(f"items:\n- {{id: {NEUTRAL[0].id}, category: c, prompt: p}}\n")
    with pytest.raises(UserError, match=r"duplicate id .* \(already used in personatune/eval/sets/neutral.yaml\)"):
        load_neutral(path, extend=True)


def test_bad_transfer_file(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("templates:\n- {id: a, kind: k, template: 'About {subject}'}\n")
    with pytest.raises(UserError, match=r"t.yaml.*item #1 \('a'\): template must use"):
        load_transfer(path)
    path.write_text("templates:\n- {id: a, kind: k, template: 'Answer {question}'}\n")
    with pytest.raises(UserError, match="no question stems"):
        load_transfer(path)
    path.write_text("templates:\n- {id: a, kind: k, template: 'About {topic}'}\n")
    assert [p.prompt for p in transfer_prompts(["x"], 3, transfer=load_transfer(path))] == ["About x"]
