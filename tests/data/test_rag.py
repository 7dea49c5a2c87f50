from __future__ import annotations

import numpy as np
import pytest
import yaml

from personatune.data.rag import Index, Settings, build_index, format_context, recall_at_k, where

SEGMENTS = [
    {"segment_id": "a", "source": "/x/story.vtt", "start": 75.0, "offset": None,
     "text": "My grandfather Henryk built wooden fishing boats in Gdansk."},
    {"segment_id": "b", "source": "/x/lesson.srt", "start": 10.0, "offset": None,
     "text": "Set the fence to two inches and rip the board with a push stick."},
    {"segment_id": "c", "source": "/x/post.md", "start": None, "offset": 420,
     "text": "Shellac is mixed by the pound cut; a two pound cut is a good start for brushing."},
]


def test_bm25_ranks_by_shared_rare_terms_and_cites_provenance():
    index = Index(SEGMENTS, np.zeros((3, 4), dtype=np.float32), Settings(top_k=2))
    hits = index.search("Who built fishing boats?", mode="bm25")
    assert [h["segment_id"] for h in hits] == ["a"]  # nothing else shares a term
    assert hits[0]["where"] == "story.vtt @ 1:15"
    assert where(SEGMENTS[2]) == "post.md @ char 420"
    context = format_context(index.search("shellac pound cut", mode="bm25"))
    assert context.startswith("[1] (post.md @ char 420) Shellac is mixed")


def test_a_question_to_the_person_gives_their_own_segments_a_vote():
    segments = [{**s, "label": "instructional"} for s in SEGMENTS[1:]] + [{**SEGMENTS[0], "label": "persona"}]
    # meaning puts the lesson first and the story last; BM25 finds nothing ("fingertip" is in no passage)
    vectors = np.array([[0.9, 0.1], [0.8, 0.2], [0.5, 0.5]], dtype=np.float32)
    index = Index(segments, vectors, Settings(top_k=2, persona_vote=0.5))
    index._embedder = type("E", (), {"encode": staticmethod(lambda texts: np.array([[1.0, 0.0]]))})()
    # the vote ranks the persona segment first among its own kind; weighted 0.5 that lifts it from third to first
    assert [h["segment_id"] for h in index.search("How did you lose your fingertip?")] == ["a", "b"]
    index.settings = Settings(top_k=2, persona_vote=0.0)
    assert [h["segment_id"] for h in index.search("How did you lose your fingertip?")] == ["b", "c"]
    index.settings = Settings(top_k=2, persona_vote=0.5)
    assert [h["segment_id"] for h in index.search("How does a fingertip heal?")] == ["b", "c"]  # not to the person


def test_settings_are_validated():
    from personatune.errors import UserError

    with pytest.raises(UserError, match="top_k must be >= 1"):
        Settings(top_k=0)


@pytest.mark.integration
def test_example_index_finds_the_facts_behind_the_probes(example_built):
    ws, _ = example_built
    index = build_index(ws, log=lambda _: None)
    assert len(index.segments) > 500
    probes = yaml.safe_load((ws.path_setting("probes")).read_text())
    result = recall_at_k(index, probes)
    assert result["probes"] >= 25
    # measured 0.84 when written; fusion must not be worse than either retriever alone at k=5
    assert result["fused"]["recall@5"] >= 0.75
    assert result["fused"]["recall@5"] >= max(result["bm25"]["recall@5"], result["dense"]["recall@5"]) - 0.05
    hits = index.search("What was your first real tool?", 3)
    assert any("first real tool" in h["text"] or "jack plane" in h["text"] for h in hits)
    again = build_index(ws, log=lambda _: (_ for _ in ()).throw(AssertionError("rebuilt")))
    assert len(again.segments) == len(index.segments)  # loaded from DIR/index, not rebuilt
