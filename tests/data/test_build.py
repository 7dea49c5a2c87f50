from __future__ import annotations

from collections import Counter

import pytest

from personatune.data.build import Settings, build, choose_ratio, dataset_card
from personatune.errors import UserError


def make_rows(n_instr: int = 200, n_persona: int = 6, tokens: int = 140) -> list[dict]:
    rows = []
    for i in range(n_instr):
        rows.append({"segment_id": f"i{i}", "key": f"ki{i}", "kind": "segment", "label": "instructional",
                     "subtype": None, "text": f"instruction number {i} " + "word " * 100, "tokens": tokens,
                     "questions": [f"How do I do step {i}?", f"What about step {i}?", f"Why step {i}?"],
                     "source": "/a/lesson.srt", "start": float(i), "offset": None, "title": "Lesson"})
    for i in range(n_persona):
        rows.append({"segment_id": f"p{i}", "key": f"kp{i}", "kind": "segment", "label": "persona",
                     "subtype": "story", "text": f"persona story {i} " + "memory " * 100, "tokens": tokens,
                     "questions": [f"Tell me about story {i}?", f"What happened in story {i}?", f"Why story {i}?"],
                     "source": "/a/me.vtt", "start": float(i), "offset": None, "title": "Me"})
    return rows


def test_fixed_ratio_replicates_persona_with_different_questions():
    splits, report = build(make_rows(n_persona=20), Settings(ratio="5", heldout_fraction=0.1, validation_fraction=0.1))
    persona_train = [r for r in splits["train"] if r["label"] == "persona"]
    segments = Counter(r["segment_id"] for r in persona_train)
    assert set(segments.values()) == {5}
    for seg in segments:
        questions = [r["question"] for r in persona_train if r["segment_id"] == seg]
        assert len(set(questions)) == 3  # 5 copies cycle through all 3 variants
    instr = Counter(r["segment_id"] for r in splits["train"] if r["label"] == "instructional")
    assert set(instr.values()) == {1}
    assert report["ratio"] == 5
    assert report["persona_times_seen"]["min"] == report["persona_times_seen"]["max"] == 5
    before, after = report["train_before_oversampling"]["persona"], report["train_after_oversampling"]["persona"]
    assert after["tokens"] == 5 * before["tokens"] and after["rows"] == 5 * before["rows"]
    assert after["token_share"] > 3 * before["token_share"]


def test_split_happens_before_oversampling_and_nothing_leaks():
    rows = make_rows(n_instr=300, n_persona=30)
    splits, _ = build(rows, Settings(ratio="10"))
    train_ids = {r["segment_id"] for r in splits["train"]}
    for split in ("validation", "heldout"):
        held_ids = {r["segment_id"] for r in splits[split]}
        assert not train_ids & held_ids
        held_text = {r["answer"] for r in splits[split]}
        assert not held_text & {r["answer"] for r in splits["train"]}
        held_questions = {q for r in splits[split] for q in r["questions"]}
        assert not held_questions & {r["question"] for r in splits["train"]}
    held_labels = Counter(r["label"] for r in splits["heldout"])
    assert held_labels["persona"] >= 2 and held_labels["instructional"] >= 20
    # every segment lands in exactly one split
    all_ids = Counter()
    for name, examples in splits.items():
        if name != "deploy":
            all_ids.update({r["segment_id"] for r in examples})
    assert all(v == 1 for v in all_ids.values()) and len(all_ids) == len(rows)


def test_the_deployable_split_trains_every_persona_segment_and_eval_stays_disjoint():
    rows = make_rows(n_instr=300, n_persona=30)
    splits, report = build(rows, Settings(ratio="10"))
    persona = {r["segment_id"] for r in rows if r["label"] == "persona"}
    deploy = Counter(r["segment_id"] for r in splits["deploy"] if r["label"] == "persona")
    assert set(deploy) == persona and set(deploy.values()) == {10}  # all of them, oversampled alike
    held_persona = {r["segment_id"] for s in ("validation", "heldout") for r in splits[s] if r["label"] == "persona"}
    assert held_persona and held_persona <= set(deploy)
    # the measurement split is untouched: held-out persona never reaches `train`
    assert not held_persona & {r["segment_id"] for r in splits["train"]}
    # instructional rows held out for evaluation stay out of the deployable model too
    held_instr = {r["segment_id"] for s in ("validation", "heldout") for r in splits[s] if r["label"] != "persona"}
    assert not held_instr & {r["segment_id"] for r in splits["deploy"]}
    assert report["deploy"] == {"persona_segments": 30, "of_persona_segments": 30}
    assert report["rows"]["deploy"] == report["rows"]["train"] + 10 * len(held_persona)


def test_split_is_deterministic_for_a_seed_and_changes_with_it():
    rows = make_rows()
    a, _ = build(rows, Settings(seed=1))
    b, _ = build(rows, Settings(seed=1))
    c, _ = build(rows, Settings(seed=2))
    assert [r["id"] for r in a["train"]] == [r["id"] for r in b["train"]]
    assert {r["segment_id"] for r in a["heldout"]} != {r["segment_id"] for r in c["heldout"]}


def test_auto_ratio_brings_persona_to_the_same_order_of_magnitude():
    # 3 persona vs 200 instructional segments of equal length: 0.1 * 200 / 3 -> 7x
    rows = [r for r in make_rows(n_instr=200, n_persona=3)]
    ratio, why, warnings = choose_ratio(rows, Settings(ratio="auto", auto_target=0.1))
    assert ratio == 7 and "auto" in why and not warnings


def test_the_default_ratio_follows_the_archive_and_a_fixed_one_that_overwhelms_is_said_loudly():
    assert Settings().ratio == "auto"
    memoir = make_rows(n_instr=73, n_persona=27)  # a memoir the labeller finds 27% persona
    ratio, _, warnings = choose_ratio(memoir, Settings())
    assert ratio == 1 and not warnings
    ratio, _, warnings = choose_ratio(memoir, Settings(ratio="10"))
    assert any(w.startswith("OVERWHELMS: 10x") and "would be 1x" in w for w in warnings)
    lectures = make_rows(n_instr=98, n_persona=2)  # a 2% lecture archive gets the cap
    ratio, _, warnings = choose_ratio(lectures, Settings())
    assert ratio == 10 and not any("OVERWHELMS" in w for w in warnings)


def test_auto_ratio_is_capped_with_a_warning():
    rows = make_rows(n_instr=500, n_persona=2)  # wants 25x
    ratio, why, warnings = choose_ratio(rows, Settings(ratio="auto", cap=10))
    assert ratio == 10 and "capped" in why
    assert any("exceeds cap" in w for w in warnings)


def test_fixed_ratio_over_cap_is_refused_unless_overridden():
    rows = make_rows()
    with pytest.raises(UserError, match="exceeds the cap 10"):
        choose_ratio(rows, Settings(ratio="15"))
    ratio, _, warnings = choose_ratio(rows, Settings(ratio="15", allow_over_cap=True))
    assert ratio == 15 and any("over the cap" in w for w in warnings)


def test_bad_ratio_settings_are_one_clear_error():
    with pytest.raises(UserError, match="ratio"):
        Settings(ratio="ten")
    with pytest.raises(UserError, match="heldout_fraction"):
        Settings(validation_fraction=0.6, heldout_fraction=0.5)


def test_report_and_card_describe_lengths_and_shares():
    splits, report = build(make_rows(), Settings(ratio="auto"))
    words = report["answer_words"]["train"]
    assert words["min"] <= words["p50"] <= words["max"] and words["mean"] > 100
    card = dataset_card("Test Person", report)
    assert "Persona ratio" in card and "| train |" in card and "token share" in card


def test_contrastive_rows_go_to_train_only():
    rows = make_rows()
    rows.append({"segment_id": "contrastive-001", "key": None, "kind": "contrastive", "label": "persona",
                 "subtype": "background", "text": "No, I never finished an engineering degree.",
                 "questions": ["Do you have an engineering degree?", "Where did you get your degree?"],
                 "source": "probes.yaml", "start": None, "offset": None, "title": None})
    splits, _ = build(rows, Settings(ratio="4"))
    contrastive = [r for r in splits["train"] if r["kind"] == "contrastive"]
    assert len(contrastive) == 4
    assert not any(r["kind"] == "contrastive" for s in ("validation", "heldout") for r in splits[s])


def test_fact_pairs_go_where_their_segment_goes_and_are_oversampled_as_persona():
    rows = make_rows(n_persona=20)
    for i in range(20):
        rows.append({"segment_id": f"p{i}~fact0", "parent": f"p{i}", "key": f"kp{i}~fact0", "kind": "fact",
                     "label": "persona", "subtype": "background", "text": f"I was born in town {i}.", "tokens": 8,
                     "questions": [f"Where were you born, {i}?"], "source": "/a/me.vtt", "start": float(i),
                     "offset": None, "title": "Me"})
    splits, report = build(rows, Settings(ratio="4", heldout_fraction=0.2, validation_fraction=0.1, fact_boost=1))
    where = {r["segment_id"]: split for split, examples in splits.items() for r in examples}
    for i in range(20):
        assert where[f"p{i}~fact0"] == where[f"p{i}"]  # a held-out segment's facts never reach training
    held = [r for r in splits["heldout"] if r["kind"] == "fact"]
    assert held and all(r["parent"] in {x["segment_id"] for x in splits["heldout"]} for r in held)
    train_facts = Counter(r["segment_id"] for r in splits["train"] if r["kind"] == "fact")
    assert set(train_facts.values()) == {4}
    assert all(r["source"] == "/a/me.vtt" and r["parent"] for r in splits["train"] if r["kind"] == "fact")
    assert sum(report["fact_pairs"].values()) == 20
    card = dataset_card("Marta", report, {"fact": {"round trip": {"passed": 3, "failed": 1, "share": 0.75}}})
    assert "**Fact pairs:** 20" in card and "Where were you born" in card and "75% of 4" in card
    assert card.count("\n- [") == 10  # ten random training pairs


def test_fact_boost_repeats_fact_pairs_only_and_asks_each_copy_in_turn():
    rows = make_rows(n_persona=10)
    rows.append({"segment_id": "p0~fact0", "parent": "p0", "key": "kp0~fact0", "kind": "fact", "label": "persona",
                 "subtype": "background", "text": "I was born in Gdansk.", "tokens": 8, "source": "/a/me.vtt",
                 "questions": ["Where were you born?", "What city were you born in?"], "start": 0.0, "offset": None,
                 "title": "Me"})
    settings = Settings(ratio="3", fact_boost=4, heldout_fraction=0.0, validation_fraction=0.0)
    splits, report = build(rows, settings)
    copies = Counter(r["segment_id"] for r in splits["train"] if r["label"] == "persona")
    assert copies.pop("p0~fact0") == 12 and set(copies.values()) == {3}  # segments keep the ratio
    asked = Counter(r["question"] for r in splits["train"] if r["segment_id"] == "p0~fact0")
    assert asked == {"Where were you born?": 6, "What city were you born in?": 6}
    assert report["persona_times_seen"]["per_segment"]["p0~fact0"] == 12
    deploy = Counter(r["segment_id"] for r in splits["deploy"] if r["segment_id"] == "p0~fact0")
    assert deploy["p0~fact0"] == 12
    with pytest.raises(UserError, match="fact_boost must be >= 1"):
        Settings(fact_boost=0)


def topical_rows(topics: dict[str, int], n_persona: int = 12, tokens: int = 140) -> list[dict]:
    """Instructional segments about distinct topics (each topic its own vocabulary), plus persona."""
    rows = []
    for topic, n in topics.items():
        vocab = [f"{topic}{k}" for k in range(12)]
        for i in range(n):
            words = " ".join(vocab[(i + j) % 12] for j in range(40))
            rows.append({"segment_id": f"{topic}-{i}", "key": f"k{topic}{i}", "kind": "segment",
                         "label": "instructional", "subtype": None, "text": f"{words} step {i}", "tokens": tokens,
                         "questions": [f"How does {topic} work?"], "source": f"/a/{topic}.srt", "start": float(i),
                         "offset": None, "title": topic.title()})
    rows += make_rows(0, n_persona, tokens)
    for i in range(n_persona):  # a fact pair per persona segment: persona rows too
        rows.append({"segment_id": f"p{i}/fact0", "parent": f"p{i}", "key": f"kf{i}", "kind": "fact",
                     "label": "persona", "subtype": "background", "text": f"I was born in town {i}.", "tokens": 8,
                     "questions": [f"Where were you born, story {i}?"], "source": "/a/me.vtt", "start": None,
                     "offset": 0, "title": "Me"})
    return rows


def test_the_token_budget_never_drops_persona_and_keeps_every_topic():
    rows = topical_rows({"glue": 300, "clamps": 120, "finish": 40, "saws": 8})
    unbudgeted, _ = build(rows, Settings(ratio="1"))
    splits, report = build(rows, Settings(ratio="1", budget_tokens=14_000))
    train = [r for r in splits["train"] if r["label"] == "instructional"]
    assert sum(r["tokens"] for r in train) <= 14_000 < sum(r["tokens"] for r in unbudgeted["train"]
                                                          if r["label"] == "instructional")
    persona = lambda split: sorted(r["segment_id"] for r in split if r["label"] == "persona")  # noqa: E731
    assert persona(splits["train"]) == persona(unbudgeted["train"])  # every persona row, facts included
    assert any(r["kind"] == "fact" for r in splits["train"])
    topics_kept = {r["title"] for r in train}
    assert topics_kept == {"Glue", "Clamps", "Finish", "Saws"}  # the smallest topic is still trained on
    glue = sum(r["title"] == "Glue" for r in train)
    assert glue > sum(r["title"] == "Saws" for r in train)  # shares follow the topics' sizes
    info = report["budget"]["labels"]["instructional"]
    assert info["tokens_after"] <= 14_000 and info["topics_kept"] == info["topics"]
    assert report["budget"]["left_out"]["segments"] == info["segments_before"] - info["segments_after"] > 0
    # eval splits are untouched; the ratio is chosen against what is trained
    assert [r["segment_id"] for r in splits["heldout"]] == [r["segment_id"] for r in unbudgeted["heldout"]]
    auto, auto_report = build(rows, Settings(budget_tokens=14_000))
    assert auto_report["ratio"] < build(rows, Settings())[1]["ratio"]
    card = dataset_card("Marta", report)
    assert "Token budget: 14000 tokens" in card and "persona: none (never dropped)" in card


def test_a_budget_below_one_segment_per_topic_is_said_loudly():
    rows = topical_rows({"glue": 100, "clamps": 100, "finish": 100})
    _, report = build(rows, Settings(ratio="1", budget_tokens=200))
    info = report["budget"]["labels"]["instructional"]
    assert info["tokens_after"] > 200 and info["segments_after"] == info["topics"]
    assert any("smaller than one segment per topic" in w for w in report["warnings"])
    assert "smaller than one segment per topic" in dataset_card("Marta", report)


def test_a_budget_the_archive_fits_in_changes_nothing():
    rows = topical_rows({"glue": 20})
    plain, _ = build(rows, Settings(ratio="3"))
    budgeted, report = build(rows, Settings(ratio="3", budget_tokens=1_000_000))
    assert plain["train"] == budgeted["train"] and report["budget"]["labels"] == {}
    assert "nothing left out" in dataset_card("Marta", report)
    with pytest.raises(UserError, match="budget_tokens"):
        from personatune.settings import resolve

        resolve(Settings, {"budget_tokens": -1}, {}, where="persona.yaml [build]")


def test_an_answer_starts_where_its_question_is_answered_and_the_whole_passage_on_request():
    rows = make_rows(n_instr=40, n_persona=4)
    for row in rows:
        row["text"] = "First I set things up. Then I sand the edge. Finally I oil it."
        row["answer_starts"] = [0, row["text"].index("Then"), row["text"].index("Finally")]
    splits, _ = build(rows, Settings(ratio="3"))
    persona = [r for r in splits["train"] if r["label"] == "persona"]
    by_question = {r["question"]: r["answer"] for r in persona}
    row = next(r for r in rows if r["segment_id"] == persona[0]["segment_id"])
    for question, start in zip(row["questions"], row["answer_starts"]):
        assert by_question[question] == row["text"][start:]
    last = next(r for r in persona if r["answer"] == "Finally I oil it.")
    assert last["tokens"] < row["tokens"]  # counted in proportion to what is trained
    whole, _ = build(rows, Settings(ratio="3", answer_from="start"))
    assert {r["answer"] for r in whole["train"]} == {rows[0]["text"]}
