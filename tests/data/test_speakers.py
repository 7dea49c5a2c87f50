"""Multi-speaker sources: the person's own voice apart from hosts and guests, from tag to label."""

from __future__ import annotations

import json

import pytest

from personatune import artifacts
from personatune.data.chunk import Settings as ChunkSettings
from personatune.data.chunk import chunk_document
from personatune.data.formats import parse_transcript_json, parse_vtt
from personatune.data.runner import run_pipeline
from personatune.data.speakers import attribute, is_person, read_turn_tags
from personatune.workspace import Workspace, init_workspace

INTERVIEW_VTT = """WEBVTT

00:00:01.000 --> 00:00:04.000
<v Lex Fridman>Where did you grow up, and what got you into this work?</v>

00:00:04.500 --> 00:00:12.000
<v Ada Byron>I grew up in a small town by the sea. My father ran the hardware store, and I spent every summer there.

00:00:12.500 --> 00:00:20.000
<v.loud Ada Byron>When I was twelve I wrote my first program on a borrowed computer, and I never stopped.</v> <v Lex Fridman>Amazing.
"""


def count_words(texts):
    return [len(t.split()) for t in texts]


def test_webvtt_voice_spans_become_pieces_with_their_speaker():
    pieces = parse_vtt(INTERVIEW_VTT)
    assert [(p.get("speaker"), p["text"][:12]) for p in pieces] == [
        ("Lex Fridman", "Where did yo"), ("Ada Byron", "I grew up in"), ("Ada Byron", "When I was t"),
        ("Lex Fridman", "Amazing.")]
    assert pieces[2]["start"] == 12.5 and "<" not in "".join(p["text"] for p in pieces)


def test_diarized_whisper_json_keeps_its_speakers():
    data = {"segments": [{"start": 0, "end": 2, "text": " So tell me.", "speaker": "SPEAKER_00"},
                         {"start": 2, "end": 5, "text": " I was born in Gdansk.", "speaker": "SPEAKER_01"}]}
    pieces, kind = parse_transcript_json(json.dumps(data))
    assert kind == "whisper" and [p["speaker"] for p in pieces] == ["SPEAKER_00", "SPEAKER_01"]


def test_name_colon_turns_are_read_and_a_turn_runs_until_the_next_tag():
    pieces = [{"text": t, "offset": i * 100} for i, t in enumerate([
        "LEX FRIDMAN: Welcome back.", "ADA BYRON: Thanks for having me.", "I grew up by the sea.",
        "LEX FRIDMAN: And then?", "ADA BYRON: Then I moved to London."])]
    assert read_turn_tags(pieces)
    assert [p["speaker"] for p in pieces] == ["LEX FRIDMAN", "ADA BYRON", "ADA BYRON", "LEX FRIDMAN", "ADA BYRON"]
    assert pieces[1]["text"] == "Thanks for having me." and pieces[1]["offset"] == 100 + len("ADA BYRON: ")


def test_a_colon_in_prose_is_not_a_speaker():
    pieces = [{"text": t} for t in ["Note: the glue needs an hour.", "Update: I changed my mind.",
                                    "Mom: she taught me everything.", "It was a good year."]]
    assert not read_turn_tags(pieces)
    assert all("speaker" not in p for p in pieces)


def test_the_person_is_found_by_their_names_or_the_workspace_name():
    assert is_person("ADA BYRON", [], "Ada Byron") and is_person("Ada", [], "Ada Byron")
    assert not is_person("Lex Fridman", [], "Ada Byron")
    assert is_person("SPEAKER_01", ["speaker_01"], "Ada Byron") and not is_person("Ada", ["SPEAKER_01"], "Ada Byron")
    doc = {"pieces": parse_vtt(INTERVIEW_VTT)}
    found = attribute(doc, [], "Ada Byron", read_tags=True)
    assert found == {"speakers": {"Lex Fridman": 2, "Ada Byron": 2}, "person": ["Ada Byron"]}
    assert [p["voice"] for p in doc["pieces"]] == ["other", "person", "person", "other"]


def test_a_segment_never_mixes_two_voices():
    doc = {"doc_id": "d", "source": "/x/i.vtt", "format": "vtt", "pieces": parse_vtt(INTERVIEW_VTT)}
    attribute(doc, [], "Ada Byron", read_tags=True)
    segments = chunk_document(doc, ChunkSettings(target_tokens=200, max_tokens=300, min_tokens=1), count_words)
    assert [(s["speaker"], s["voice"]) for s in segments] == [
        ("Lex Fridman", "other"), ("Ada Byron", "person"), ("Lex Fridman", "other")]
    assert [s["segment_id"] for s in segments] == ["d-0000", "d-0001", "d-0002"]


@pytest.mark.integration
def test_other_voices_are_never_persona_and_the_log_says_who_spoke(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONATUNE_CACHE", str(tmp_path / "cache"))
    sources = tmp_path / "interviews"
    sources.mkdir()
    host_story = ("<v Lex Fridman>I grew up in Moscow, and my father was a physicist. When I was a kid I "
                  "remember taking apart every radio in our apartment, and I never stopped.</v>\n")
    (sources / "ep1.vtt").write_text(INTERVIEW_VTT + "\n00:00:21.000 --> 00:00:30.000\n" + host_story)
    (sources / "ep2.vtt").write_text(INTERVIEW_VTT.replace("Ada Byron", "Grace Hopper"))
    root = tmp_path / "ws"
    init_workspace(root, [str(sources)], name="Ada Byron")
    log: list[str] = []
    run_pipeline(Workspace.open(root), until="label", log=log.append)
    ws = Workspace.open(root)
    rows = artifacts.read_jsonl(ws.stage_dir("label") / "labels.jsonl")
    host = [r for r in rows if r.get("speaker") == "Lex Fridman"]
    assert host and all(r["label"] == "other" and "another voice" in r["reason"] for r in host)
    assert any("grew up in Moscow" in r["text"] for r in host)  # the host's own story: still not the person's
    assert any(r.get("speaker") == "Ada Byron" and r["label"] == "persona" for r in rows)
    report = artifacts.read_json(ws.stage_dir("ingest") / "report.json")
    assert set(report["speakers"]) == {str(sources / "ep1.vtt"), str(sources / "ep2.vtt")}
    assert any("ep2.vtt: speakers Lex Fridman, Grace Hopper, none of them Ada Byron" in line for line in log)
