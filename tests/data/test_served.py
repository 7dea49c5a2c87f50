"""Train as served: the rows that carry the card and retrieved passages, rendered as the runtimes render them."""

from __future__ import annotations

import pytest

from personatune import artifacts
from personatune.data.build import Settings, build, dataset_card
from tests.data.test_build import make_rows


def test_build_marks_a_seeded_share_of_rows_served_and_the_card_says_so():
    splits, report = build(make_rows(), Settings(ratio="10", served_share=0.3, served_gold_share=0.75))
    deploy = splits["deploy"]
    served = [r for r in deploy if r.get("served")]
    assert 0.2 < len(served) / len(deploy) < 0.4
    gold = sum(r["served"] == "gold" for r in served)
    assert 0.6 < gold / len(served) < 0.9
    # a train row is the same row in deploy: one choice for both
    by_id = {r["id"]: r.get("served") for r in deploy}
    assert all(by_id[r["id"]] == r.get("served") for r in splits["train"])
    assert not any(r.get("served") for s in ("validation", "heldout") for r in splits[s])
    again, _ = build(make_rows(), Settings(ratio="10", served_share=0.3, served_gold_share=0.75))
    assert [r.get("served") for r in again["deploy"]] == [r.get("served") for r in deploy]
    assert sum(report["served"]["deploy"].values()) == len(served)
    assert "## Trained as served: 30% of rows" in dataset_card("X", report)


def test_fact_pairs_have_their_own_served_share():
    rows = make_rows(n_persona=20)
    rows += [{**r, "segment_id": f"{r['segment_id']}~fact0", "key": f"{r['key']}~fact0", "kind": "fact",
              "parent": r["segment_id"], "text": "I was born in Gdańsk, in Poland, in 1987.", "tokens": 12,
              "questions": ["Where were you born?"]} for r in rows if r["label"] == "persona"]
    splits, report = build(rows, Settings(ratio="10", fact_boost=2, served_share=0.1, served_fact_share=0.6))
    facts = [r for r in splits["deploy"] if r.get("parent")]
    others = [r for r in splits["deploy"] if not r.get("parent")]
    assert 0.45 < sum(bool(r.get("served")) for r in facts) / len(facts) < 0.75
    assert 0.03 < sum(bool(r.get("served")) for r in others) / len(others) < 0.2
    assert "## Trained as served: 10% of rows, 60% of fact pairs" in dataset_card("X", report)


def test_served_share_zero_trains_the_plain_system_prompt_only():
    splits, report = build(make_rows(), Settings(served_share=0))
    assert not any(r.get("served") for rows in splits.values() for r in rows)
    assert report["served"]["deploy"] == {}


def test_served_settings_are_validated():
    from personatune.errors import UserError

    with pytest.raises(UserError, match="served_share must be between 0 and 1"):
        Settings(served_share=1.5)


@pytest.mark.integration
def test_served_rows_are_rendered_as_the_runtimes_render_them_and_never_show_held_out_segments(example_built):
    from personatune.data.card import live_card
    from personatune.data.rag import RAG_HEADER, build_index, served_system
    from personatune.persona.prompting import Persona, Toggles

    ws, _ = example_built
    folder = ws.stage_dir("dataset") / "messages"
    rows = {split: artifacts.read_jsonl(folder / f"{split}.jsonl") for split in ("train", "validation", "heldout",
                                                                                 "deploy")}
    held = {r["metadata"].get("parent") or r["metadata"]["segment_id"]: r["metadata"]["label"]
            for s in ("validation", "heldout") for r in rows[s]}
    labels = artifacts.read_jsonl(ws.stage_dir("label") / "labels.jsonl")
    held_persona_text = [r["text"] for r in labels if held.get(r["segment_id"]) == "persona"]
    trained_persona_text = [r["text"] for r in labels if r["label"] == "persona" and r["segment_id"] not in held]
    assert held_persona_text
    index = build_index(ws, log=lambda _: None)
    persona = Persona(ws, log=lambda _: None)
    card = live_card(ws)
    same_as_runtime = 0
    for split in ("train", "deploy"):
        served = [r for r in rows[split] if r["metadata"].get("served")]
        assert len(served) > 0.1 * len(rows[split])
        for row in served:
            meta, system = row["metadata"], row["messages"][0]["content"]
            own = meta.get("parent") or meta["segment_id"]
            for passage in meta["passages"]:  # a held-out segment is never a passage (deploy trains held-out persona)
                assert passage not in held or (split == "deploy" and held[passage] == "persona")
            assert (own in meta["passages"]) == (meta["served"] == "gold")
            hits = [index.by_id(p) for p in meta["passages"]]
            if split == "deploy":
                assert system == served_system(card, hits)
                question = row["messages"][1]["content"]
                runtime, runtime_hits = persona.system(Toggles(card=True, rag=True), question)
                if [h["segment_id"] for h in runtime_hits] == meta["passages"]:
                    assert system == runtime  # byte for byte what chat, serve and eval send
                    same_as_runtime += 1
            else:  # the measurement split's card is drawn from trained persona segments only
                assert system.endswith(served_system("", hits))
                card_lines = [line.split(": ", 1)[1].removesuffix(" ...") for line in
                              system.split(RAG_HEADER)[0].splitlines() if line.startswith("- ")]
                assert card_lines
                for line in card_lines:
                    assert not any(line in text for text in held_persona_text) or \
                        any(line in text for text in trained_persona_text)
    assert same_as_runtime >= 10
    plain = [r for r in rows["train"] if not r["metadata"].get("served")]
    assert plain and all(r["messages"][0]["content"] == "You are Marta Kowalczyk." for r in plain)
