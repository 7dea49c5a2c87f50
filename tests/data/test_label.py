from __future__ import annotations

import json

import numpy as np
import pytest

from personatune.data.label import (
    Settings,
    apply_overrides,
    auto_label,
    gold_persona_ids,
    precision_recall,
    read_overrides,
    text_key,
)
from personatune.data.label_cues import lexical_features
from personatune.errors import UserError

PERSONA = ("Years ago, when I was fourteen, my parents moved us to a new country, and my grandfather gave me his "
           "old plane before we left. I remember crying on the plane home.")
LESSON = ("Set the fence to two inches and lock it. Next, make sure the blade is square to the table. "
          "You want to push the board through with a push stick, 3 inches at a time.")


class FakeEmbedder:
    """Bag-of-words vectors: enough to test the glue without loading MiniLM."""

    vocab: dict[str, int] = {}

    def encode(self, texts):
        out = np.zeros((len(texts), 512), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                out[row, self.vocab.setdefault(word.strip(".,"), len(self.vocab) % 512)] += 1
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return out / np.maximum(norms, 1e-9)


def seg(i: int, text: str, doc: str = "d") -> dict:
    return {"segment_id": f"{doc}-{i:04d}", "doc_id": doc, "source": f"/x/{doc}.srt", "text": text}


def test_lexical_cues_separate_biography_from_instruction():
    assert lexical_features(PERSONA)["lexical"] > 2.0
    assert lexical_features(LESSON)["lexical"] == 0.0
    feats = lexical_features(PERSONA)
    assert feats["per_type"]["background"] > 0 and feats["per_type"]["story"] > 0


def test_an_aside_inside_a_lesson_is_found_by_its_window():
    text = f"{LESSON} {PERSONA} {LESSON}"
    assert lexical_features(text)["lexical"] > 1.5


def test_auto_label_marks_persona_with_subtype_score_and_reason():
    rows = auto_label([seg(0, LESSON), seg(1, PERSONA + " " + PERSONA), seg(2, "Thanks, bye.")], Settings(), [],
                      embedder=FakeEmbedder(), log=lambda _: None)
    assert [r["label"] for r in rows] == ["instructional", "persona", "other"]
    assert rows[1]["subtype"] in ("background", "story") and rows[1]["score"] >= 0.35
    assert "cues" in rows[1]["reason"] and rows[0]["reason"] and rows[2]["reason"]


def test_overrides_win_and_are_matched_by_content(tmp_path):
    rows = auto_label([seg(0, LESSON), seg(1, PERSONA)], Settings(), [], embedder=FakeEmbedder(), log=lambda _: None)
    path = tmp_path / "labels.override.jsonl"
    path.write_text(json.dumps({"key": text_key(LESSON.upper()), "label": "persona", "subtype": "values"}) + "\n"
                    + json.dumps({"segment_id": "d-0001", "label": "instructional"}) + "\n")
    applied = apply_overrides(rows, read_overrides(path))
    assert applied == 2
    assert (rows[0]["label"], rows[0]["subtype"], rows[0]["labelled_by"]) == ("persona", "values", "human")
    assert rows[1]["label"] == "instructional" and rows[1]["subtype"] is None


def test_bad_override_lines_name_the_line(tmp_path):
    path = tmp_path / "labels.override.jsonl"
    path.write_text('{"segment_id": "a", "label": "persona", "subtype": "story"}\n{"segment_id": "b", "label": "x"}\n')
    with pytest.raises(UserError, match="line 2: label must be one of"):
        read_overrides(path)
    path.write_text('{"segment_id": "a", "label": "persona"}\n')
    with pytest.raises(UserError, match="line 1: persona needs a subtype"):
        read_overrides(path)


def test_gold_matching_and_precision_recall():
    segments = [seg(0, LESSON), seg(1, PERSONA), seg(2, PERSONA[:60] + " " + LESSON)]
    gold = [{"source": "d.srt", "text": PERSONA}]
    assert gold_persona_ids(segments, gold) == {"d-0001"}
    pr = precision_recall({"d-0001", "d-0000"}, {"d-0001"})
    assert (pr["precision"], pr["recall"]) == (0.5, 1.0) and pr["false_positives"] == ["d-0000"]


def test_settings_are_validated():
    with pytest.raises(UserError, match="persona_threshold"):
        Settings(persona_threshold=1.5)
    with pytest.raises(UserError, match="seed_examples has unknown keys"):
        Settings(seed_examples={"hobbies": ["x"]})


def test_a_decision_is_never_glued_onto_a_hand_edited_last_line(tmp_path):
    from personatune.data.review import append_override

    path = tmp_path / "labels.override.jsonl"
    hand = {"key": "k1", "segment_id": "s1", "label": "instructional"}
    path.write_text(json.dumps(hand), encoding="utf-8")  # no newline at the end, as an editor may leave it
    append_override(path, {"key": "k2", "segment_id": "s2", "label": "persona", "subtype": "story"})
    append_override(path, {"key": "k3", "segment_id": "s3", "label": "other"})
    decisions = read_overrides(path)
    assert decisions["k1"] == hand and decisions["k2"]["subtype"] == "story" and decisions["k3"]["label"] == "other"
    assert path.read_text(encoding="utf-8").count("\n") == 3
