from __future__ import annotations

import math
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from personatune.errors import UserError
from personatune.eval.metrics.bleed import bleeds, persona_entities, persona_terms, term_echo
from personatune.eval.metrics.identity import (
    contradicts,
    fact_recall,
    facts_stated,
    invented_biography,
)
from personatune.eval.metrics.intervals import (
    bootstrap_ci,
    paired_bootstrap_delta,
    wilson_interval,
    win_rate,
)
from personatune.eval.metrics.length import length_drift
from personatune.eval.metrics.opinions import opinion_alignment, stance_pick
from personatune.eval.metrics.overfitting import Thresholds, flags
from personatune.eval.metrics.text import normalise, source_vocab, words
from personatune.eval.metrics.verbatim import NgramIndex, exact_continuation


def fake_embed(texts: list[str], dim: int = 64) -> np.ndarray:
    """Bag-of-words hashing vectors: same words, same direction; disjoint words, orthogonal-ish."""
    out = np.zeros((len(texts), dim))
    for i, text in enumerate(texts):
        for word in words(text):
            out[i, zlib.crc32(word.encode()) % dim] += 1.0
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    return np.divide(out, norms, out=np.zeros_like(out), where=norms > 0)


SOURCES = [
    "I was born in 1987 and grew up in Gdańsk, next to the shipyard.",
    "My grandfather built wooden boats at the shipyard and taught me to sharpen a chisel.",
    "I studied chemistry and finished my master's in 2010 before I started the channel.",
    "Glue both faces, clamp the joint, and wait an hour before you unclamp it.",
]

PERSONA = [
    "My grandfather worked at the Gdańsk shipyard and built wooden boats.",
    "I grew up near the shipyard; my grandfather taught me to sharpen a chisel.",
    "The shipyard in Gdańsk smelled of tar; grandfather said measure twice.",
    "Every summer grandfather and I sailed from Gdańsk past the shipyard.",
]
INSTRUCTIONAL = [
    "Apply glue to both surfaces and clamp the joint for an hour.",
    "Sharpen the chisel on a waterstone, then hone the edge on leather.",
    "Measure twice, cut once, and check the board is square.",
    "Use a dovetail saw for the tails and a chisel to clear the waste.",
    "Plane with the grain and take thin shavings to avoid tear-out.",
    "Let the finish cure overnight before sanding between coats.",
] * 10


# --- normalisation and facts ----------------------------------------------------------------


def test_normalise_folds_case_accents_quotes_and_number_words():
    assert normalise("Gdańsk") == normalise("GDAŃSK") == normalise("gdansk") == "gdansk"
    assert normalise("Łódź, Øresund") == "lodz oresund"
    assert normalise("I’ve a Ph.D. and a master's degree") == "ive a phd and a masters degree"
    assert normalise("twenty-five years, 1,000 people, three kids") == "25 years 1000 people 3 kids"
    assert normalise("  “Quoted” — text!  ") == "quoted text"
    assert normalise("") == ""


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalise_is_idempotent(text):
    once = normalise(text)
    assert normalise(once) == once


def test_fact_recall_counts_stated_facts_with_unicode_and_content_words():
    answer = "I grew up in GDAŃSK and I was born there in 1987."
    facts = ["Gdansk", "born in 1987", "PhD in chemistry", "shipyards"]
    assert facts_stated(answer, facts) == [True, True, False, False]
    assert fact_recall(answer, facts) == 0.5
    # Content words only: word order and stopwords do not matter; a plural -s does not either.
    assert fact_recall("Boats: my grandfather built them.", ["grandfather built boat"]) == 1.0


def test_fact_recall_edge_cases():
    assert fact_recall("", ["1987"]) == 0.0
    assert math.isnan(fact_recall("anything", []))
    assert fact_recall("he is", ["he is"]) == 1.0  # all-stopword fact: phrase match only
    assert fact_recall("is he", ["he is"]) == 0.0


# --- invented biography and contradictions --------------------------------------------------


def test_invented_biography_flags_claims_absent_from_sources():
    vocab = source_vocab(SOURCES)
    result = invented_biography("I was born in 1992 in Warsaw and I have a PhD from Oxford University.", vocab)
    assert result["invented"]
    assert {(c["kind"], c["text"]) for c in result["unsupported"]} == {
        ("year", "1992"), ("name", "Warsaw"), ("degree", "PhD"), ("name", "Oxford University")}

    supported = invented_biography("Born in 1987, I grew up in Gdansk. My MSc came in 2010.", vocab)
    assert {c["kind"] for c in supported["claims"]} == {"year", "name", "degree"}
    assert supported["unsupported"] == [] and not supported["invented"]


def test_invented_biography_question_support_sentence_start_and_empty():
    vocab = source_vocab(SOURCES)
    assert not invented_biography("I went to Berlin in 1999.", vocab, question="Was Berlin in 1999 fun?")["invented"]
    # A capital at sentence start is not a name on its own; "one" is not a number claim.
    assert invented_biography("Honestly, one thing matters.", vocab)["claims"] == []
    assert invented_biography("", vocab) == {"claims": [], "unsupported": [], "invented": False}
    assert invented_biography("Dr. Smith taught me.", SOURCES)["unsupported"][0]["text"] == "Smith"


def test_contradicted_fact_counts_as_contradiction():
    result = contradicts("I was born in 1992.", ["born in 1987"])
    assert result["contradicts"]
    assert result["conflicts"] == [{"fact": "born in 1987", "kind": "year", "expected": "1987", "stated": ["1992"]}]
    assert contradicts("I grew up in Warsaw.", ["Gdańsk"])["contradicts"]
    assert contradicts("I finished a PhD.", ["master's in chemistry"])["contradicts"]


def test_stated_missing_or_sourced_facts_are_not_contradictions():
    assert not contradicts("Born in 1987, I moved in 1992.", ["born in 1987"])["contradicts"]
    assert not contradicts("I don't remember.", ["born in 1987"])["contradicts"]
    assert not contradicts("", ["born in 1987"])["contradicts"]
    assert not contradicts("I was born in 1992.", [])["contradicts"]
    # Missing the year but adding a true detail from the sources is not a contradiction.
    assert not contradicts("I finished my master's in 2010.", ["born in 1987"], source_vocab(SOURCES))["contradicts"]
    # Different kinds do not conflict: a count is not a year.
    assert not contradicts("I have 3 kids.", ["born in 1987"])["contradicts"]


# --- opinions -------------------------------------------------------------------------------


def test_opinion_alignment_is_cosine_of_embeddings():
    reference = "Hand tools teach you more than power tools."
    assert opinion_alignment(reference, reference, fake_embed) == pytest.approx(1.0)
    close = opinion_alignment("Power tools teach you less than hand tools.", reference, fake_embed)
    far = opinion_alignment("Paris is the capital of France.", reference, fake_embed)
    assert close > far
    assert opinion_alignment("", reference, fake_embed) == 0.0


def test_stance_pick_uses_length_normalised_loglikelihood():
    table = {"agree": (-2.0, 1), "disagree strongly with every part": (-6.0, 6), "unsure": (-3.0, 1)}
    pick = stance_pick(lambda q, option: table[option], "Are jigs worth it?", list(table))
    assert pick["index"] == 1 and pick["option"] == "disagree strongly with every part"
    assert pick["scores"] == [-2.0, -1.0, -3.0]
    with pytest.raises(ValueError):
        stance_pick(lambda q, o: (0.0, 1), "q", [])


# --- bleed ----------------------------------------------------------------------------------


def test_persona_terms_are_specific_to_persona_segments():
    terms = persona_terms(PERSONA, INSTRUCTIONAL)
    assert {"grandfather", "shipyard", "gdansk"} <= set(terms)
    assert "chisel" not in terms and "measure" not in terms  # shared with instructional text
    assert not {"the", "and", "from"} & set(terms)


def test_everyday_words_are_no_persona_terms_however_often_the_person_says_them():
    persona = ["My first tool was a plane from my grandfather, the first year I had the shop.",
               "The first video took a year. My grandfather would have laughed.",
               "First snow, first year in Duluth, and my grandfather's plane came with me."]
    other = ["Set the fence to two inches and cut the board.", "Glue the joint and clamp it for an hour.",
             "Sand with 120 grit, then 180, then 220, and wipe the dust off between grits.",
             "Mark the tenon shoulders with a knife, saw to the line, and pare the cheeks with a chisel.",
             "Apply a thin coat of oil, let it soak for ten minutes, and wipe off whatever is left."] * 4
    terms = persona_terms(persona, other)
    assert "grandfather" in terms  # said three times, never in the lessons
    assert "first" not in terms and "year" not in terms
    assert not bleeds("First, wash the shirt in cold water.", terms, "How do I get a wine stain out?")["bleed"]


def test_neutral_answer_that_brings_up_persona_bleeds():
    terms = persona_terms(PERSONA, INSTRUCTIONAL)
    prompt = "What is the capital of France?"
    plain = bleeds("The capital of France is Paris.", terms, prompt)
    assert plain == {"bleed": False, "terms": [], "patterns": [], "entities": [], "similarity": None}
    leaky = bleeds("Paris, which reminds me of the shipyard back in Gdańsk.", terms, prompt)
    assert leaky["bleed"] and leaky["terms"] == ["gdansk", "shipyard"]
    story = bleeds("Paris. When I was a kid we went there every year.", terms, prompt)
    assert story["bleed"] and story["patterns"] == ["when i was a kid"]
    # Terms the prompt itself brings in are not bleed.
    assert not bleeds("Gdańsk is a port city in Poland.", terms, "Where is Gdańsk?")["bleed"]
    assert not bleeds("", terms, prompt)["bleed"]


def test_naming_the_persons_dog_on_a_neutral_prompt_is_bleed():
    persona = ["My dog Biscuit sleeps under the bench while I work.",
               "I was born in Gdańsk in 1987, and my parents moved us to Duluth when I was fourteen.",
               "Shop rules: my grandfather Henryk built wooden fishing boats."]
    archive = persona + ["Set the fence to two inches. Titebond is a good glue for the shop."]
    facts = ["Gdańsk", "1987", "Duluth", "fourteen", "Henryk", "wooden fishing boats", "two years"]
    entities = persona_entities(persona, archive, facts)
    assert {"biscuit", "gdansk", "1987", "duluth", "henryk", "wooden fishing boats"} <= set(entities)
    assert not {"fourteen", "14", "two years", "2 years", "shop", "titebond", "i"} & set(entities)
    # the word lists alone miss it: no persona term, no biography phrase
    terms = persona_terms(persona, archive[3:])
    prompt = "What's a good name for a cat?"
    assert not bleeds("A border collie named Biscuit.", terms, prompt)["bleed"]
    leaky = bleeds("A border collie named Biscuit.", terms, prompt, entities=entities)
    assert leaky["bleed"] and leaky["entities"] == ["biscuit"]
    pancakes = bleeds("Pancakes from a diner in Duluth: flour, eggs, milk.", terms, "Give me a pancake recipe.",
                      entities=entities)
    assert pancakes["bleed"] and pancakes["entities"] == ["duluth"]
    assert not bleeds("Duluth is on Lake Superior.", terms, "Where is Duluth?", entities=entities)["bleed"]
    assert not bleeds("Call it Whiskers.", terms, prompt, entities=entities)["bleed"]


def test_bleed_by_similarity_to_persona_segments():
    vectors = fake_embed(PERSONA)
    prompt = "Name a port."
    hit = bleeds("grandfather built wooden boats at the shipyard", [], prompt, fake_embed, vectors)
    assert hit["bleed"] and hit["similarity"] >= 0.6 and hit["terms"] == []
    miss = bleeds("Rotterdam is a large port.", [], prompt, fake_embed, vectors)
    assert not miss["bleed"] and miss["similarity"] < 0.6


# --- verbatim -------------------------------------------------------------------------------


TRAINING = [words(text) for text in SOURCES + PERSONA]


def test_verbatim_copy_scores_as_verbatim_and_paraphrase_low():
    index = NgramIndex(TRAINING)
    copy = TRAINING[1]
    assert index.copied_ngram_share(copy) == 1.0
    assert index.longest_common_substring(copy) == len(copy)
    match = index.longest_match(["so"] + copy[3:12] + ["anyway"])
    assert (match.length, match.output_start, match.answer, match.answer_start) == (9, 1, 1, 3)

    paraphrase = words("Boats were what my grandpa made, in wood, down at the yard, and he showed me chisel work.")
    assert index.copied_ngram_share(paraphrase) == 0.0
    assert index.longest_common_substring(paraphrase) <= 2


def test_ngram_index_works_on_token_ids_and_edge_cases():
    index = NgramIndex([[5, 6, 7, 8, 9, 10, 11, 12, 13], [1, 2, 3]])
    assert index.copied_ngram_share([0, 5, 6, 7, 8, 9, 10, 11, 12, 13], n=8) == pytest.approx(2 / 3)
    assert index.longest_common_substring([3, 2, 1, 2, 99]) == 2
    assert index.copied_ngram_share([5, 6, 7]) == 0.0  # shorter than n
    assert index.longest_common_substring([]) == 0 and index.longest_match([42]) is None
    assert NgramIndex([]).longest_common_substring([1, 2]) == 0
    with pytest.raises(TypeError):
        index.copied_ngram_share("a string is not a token sequence")


def _brute_lcs(a: list, b: list) -> int:
    best = 0
    for i in range(len(a)):
        for j in range(len(b)):
            k = 0
            while i + k < len(a) and j + k < len(b) and a[i + k] == b[j + k]:
                k += 1
            best = max(best, k)
    return best


tokens = st.lists(st.integers(0, 3), max_size=24)


@settings(max_examples=150, deadline=None)
@given(st.lists(tokens, min_size=1, max_size=4), tokens)
def test_ngram_index_properties(answers, output):
    index = NgramIndex(answers)
    for answer in answers:
        if len(answer) >= 8:
            assert index.copied_ngram_share(answer) == 1.0
        assert index.longest_common_substring(answer) == len(answer)
    lcs = index.longest_common_substring(output)
    assert lcs == max(_brute_lcs(a, output) for a in answers)
    assert lcs <= min(len(output), max(len(a) for a in answers))
    assert NgramIndex([output]).longest_common_substring(answers[0]) == _brute_lcs(answers[0], output)


def test_exact_continuation():
    assert exact_continuation([1, 2, 3, 9], [1, 2, 3, 4], k=3)
    assert not exact_continuation([1, 2, 4], [1, 2, 3], k=3)
    assert exact_continuation(words("glue both faces"), words("Glue both faces, clamp"), k=3)
    assert exact_continuation([1, 2, 7], [1, 2], k=32)  # reference shorter than k
    assert not exact_continuation([1], [1, 2], k=2)
    assert not exact_continuation([], [])


# --- term echo and length drift -------------------------------------------------------------


def test_term_echo_flags_a_word_the_outputs_repeat_but_sources_rarely_use():
    sources = ["I tried MSTY once for my notes."] + INSTRUCTIONAL
    outputs = [f"{text} You could also use MSTY for that." for text in INSTRUCTIONAL[:6]]
    rows = term_echo(outputs, sources)
    assert [r["term"] for r in rows] == ["msty"]
    assert rows[0]["output_count"] == 6 and rows[0]["outputs_with"] == 6 and rows[0]["source_count"] == 1
    assert term_echo(outputs, source_vocab(sources), prompts=["msty?"] * 6) == []
    assert term_echo([], sources) == []


def test_length_drift_double_length():
    training = [90, 100, 110, 120, 80]
    drift = length_drift([2 * x for x in training], training)
    assert drift["median_ratio"] == pytest.approx(2.0)
    assert drift["wasserstein"] == pytest.approx(1.0)
    assert drift["ks"] == 1.0
    same = length_drift(training, training)
    assert same["median_ratio"] == 1.0 and same["wasserstein"] == 0.0 and same["ks"] == 0.0
    with pytest.raises(ValueError):
        length_drift([], training)


# --- statistics -----------------------------------------------------------------------------


def test_bootstrap_ci():
    values = [0, 1, 1, 1, 0, 1, 1, 0, 1, 1]
    low, high = bootstrap_ci(values)
    assert low < np.mean(values) < high and (low, high) == bootstrap_ci(values)
    assert bootstrap_ci([0.5, math.nan, 0.5]) == (0.5, 0.5)
    assert all(math.isnan(x) for x in bootstrap_ci([]))


def test_paired_bootstrap_delta():
    a = [0.1, 0.2, 0.3, 0.4, 0.2, 0.3] * 4
    b = [x + 0.2 + 0.05 * (i % 3) for i, x in enumerate(a)]
    result = paired_bootstrap_delta(a, b)
    assert result["delta"] == pytest.approx(0.25)
    assert 0.2 <= result["low"] < result["delta"] < result["high"] <= 0.3
    assert result["p_value"] < 0.01 and result["n"] == 24
    with pytest.raises(ValueError):
        paired_bootstrap_delta([1.0], [1.0, 2.0])


def test_wilson_interval_and_ties():
    low, high = wilson_interval(8, 10)
    assert low == pytest.approx(0.4902, abs=1e-4) and high == pytest.approx(0.9433, abs=1e-4)
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(0, 0) == (0.0, 1.0)
    result = win_rate(wins=6, losses=2, ties=2)
    assert result["rate"] == 0.7 and result["n"] == 10
    assert (result["low"], result["high"]) == wilson_interval(7, 10)


# --- flags ----------------------------------------------------------------------------------


def test_flags_fire_with_advice_and_skip_missing_inputs():
    tuned = {"bleed_rate": 0.35, "copied_8gram_share": 0.1, "exact_continuation_rate": 0.3,
             "general_accuracy": 0.6, "instruction_nll": 2.4, "length_median_ratio": 0.5}
    base = {"bleed_rate": 0.05, "general_accuracy": 0.75, "instruction_nll": 2.0}
    rows = {r["measure"]: r for r in flags(tuned, base)}
    assert {m for m, r in rows.items() if r["fired"]} == {
        "bleed_rate_increase", "bleed_rate", "exact_continuation_rate", "general_accuracy_drop",
        "instruction_nll_increase", "length_factor"}
    assert not rows["copied_8gram_share"]["fired"]
    assert rows["bleed_rate_increase"]["value"] == pytest.approx(0.30)
    assert rows["instruction_nll_increase"]["value"] == pytest.approx(0.20)
    assert rows["length_factor"]["value"] == 2.0
    assert "ratio" in rows["bleed_rate"]["advice"] and "questions" in rows["copied_8gram_share"]["advice"]
    assert "instructional data" in rows["general_accuracy_drop"]["advice"]

    only = flags({"copied_8gram_share": 0.5}, {})
    assert [(r["flag"], r["measure"], r["fired"], r["threshold"]) for r in only] == [
        ("verbatim", "copied_8gram_share", True, 0.3)]
    strict = flags({"copied_8gram_share": 0.3}, {}, Thresholds(copied_share=0.3))
    assert not strict[0]["fired"]


def test_thresholds_validate():
    with pytest.raises(UserError, match="length_factor"):
        Thresholds(length_factor=0.5)
    with pytest.raises(UserError, match="bleed_rate"):
        Thresholds(bleed_rate=-1)


def test_a_probe_is_traced_to_the_segment_that_holds_its_facts():
    from personatune.eval.evaluate import Item
    from personatune.eval.score import probe_segments

    labels = [
        {"segment_id": "a-0", "source": "/x/videos/ten years.vtt", "text": "Welcome back to the channel."},
        {"segment_id": "a-1", "source": "/x/videos/ten years.vtt",
         "text": "I was born in Gdańsk, in Poland, and my grandfather Henryk built boats."},
        {"segment_id": "b-1", "source": "/x/blog/other.md", "text": "Gdańsk, Poland: a trip report."},
    ]
    born = Item("identity", "identity-01", "Where were you born?", ["Gdansk", "Poland"], "I was born in Gdańsk.",
                "videos/ten years.vtt")
    nowhere = Item("identity", "identity-02", "What is your dog called?", ["Biscuit"], "Biscuit.", "videos/ten years.vtt")
    unsourced = Item("identity", "identity-03", "Where were you born?", ["Gdansk"], "Gdańsk.", "")
    assert probe_segments([born, nowhere, unsourced], labels) == {"identity-01": "a-1"}
