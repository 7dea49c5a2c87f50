"""Punctuation and case restoration: the shipped model on caption text; the words never change."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from personatune.data import punctuate as P

CAPTION = ("so today i want to show you how i sharpen a chisel this is the one i use every day "
           "do you need an expensive stone no you don't a cheap diamond plate works fine "
           "i learned that from my grandfather in poland he was a carpenter for forty years")


def test_restored_captions_read_as_sentences_and_keep_every_word():
    words = CAPTION.split()
    restored = P.restore(words)
    assert P.words_key(restored) == P.words_key(words)
    text = " ".join(restored)
    assert text[0].isupper() and text.endswith((".", "?"))
    assert " I " in f" {text} " and " i " not in f" {text} "
    ends = sum(1 for w in restored[:-1] if w.endswith((".", "?")))
    assert 2 <= ends <= 8, text
    assert all(restored[i + 1][0].isupper() for i, w in enumerate(restored[:-1]) if w.endswith((".", "?")))


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghijklmnopqrstuvwxyzäöüß'-0123456789.,?", min_size=1, max_size=12),
                min_size=1, max_size=40))
def test_only_marks_and_case_change_whatever_the_words(words):
    words = [w for w in words if w.strip()] or ["ok"]
    restored = P.restore(words)
    assert len(restored) == len(words)
    assert P.words_key(restored) == P.words_key(words)


def test_a_long_pause_ends_a_sentence():
    words = "we glued the panel and left it overnight the next morning the joint was solid".split()
    pauses = [None] * len(words)
    pauses[words.index("overnight")] = 2.5
    restored = P.restore(words, pauses=pauses)
    assert restored[words.index("overnight")].endswith(".")
    assert restored[words.index("overnight") + 1] == "The"


def test_casing_is_learned_from_punctuated_text_not_from_sentence_starts():
    texts = ["I write Python every day. Most of it is for Duluth Tools.",
             "Python is fine. We moved to Duluth in May. Tools matter.",
             "Ask about Python and Duluth. Tools are cheap."]
    casing = P.learn_casing(texts)
    assert casing["python"] == "Python" and casing["duluth"] == "Duluth"
    assert "tools" not in casing  # "Tools" only ever starts a sentence (or is lower case elsewhere)
    restored = P.restore("i moved to duluth to write python".split(), casing=casing)
    assert restored[3].rstrip(",.?") == "Duluth" and restored[6].startswith("Python")


def test_the_person_s_own_casing_wins_over_the_model_s():
    restored = P.restore("we use numpy here".split(), casing={"numpy": "NumPy"})
    assert restored[2] == "NumPy"


def test_sentence_end_counts_and_f1():
    gold = "One. Two three. Four?".split()
    restored = "One. Two. Three four.".split()
    counts = P.sentence_end_counts(gold, restored)
    assert counts == {"tp": 1, "gold": 2, "predicted": 2}
    assert P.f1(counts)["f1"] == 0.5


def test_the_shipped_model_says_what_it_was_trained_on():
    tagger = P.default_tagger()
    assert tagger.casing.get("i") == "I"
    info = json.loads(json.dumps(tagger.info))
    assert info["trained_on"] and info["dev_f1"] > 0.5 and info["layers"] == len(tagger.encoder.encoder.layer)


def test_the_clean_stage_punctuates_captions_and_learns_casing_from_the_person_s_posts(tmp_path):
    from personatune import artifacts
    from personatune.data.runner import run_pipeline
    from personatune.workspace import Workspace, init_workspace

    sources = tmp_path / "sources"
    sources.mkdir()
    (sources / "captions.txt").write_text(
        "so today we are back in the shop in duluth and i want to show you the bench\n"
        "it took me two weekends to build it and honestly it was worth every minute\n"
        "what do you think the hardest part was the top it was the top\n", encoding="utf-8")
    (sources / "post.md").write_text(
        "# About me\n\nI moved to Duluth in 2015. My shop in Duluth is small, but it works. "
        "Most weekends I build furniture for friends in Duluth.\n", encoding="utf-8")
    documents = {}
    for restore in (True, False):
        root = tmp_path / f"ws-{restore}"
        init_workspace(root, [str(sources)], name="Test")
        ws = Workspace.open(root)
        ws.config["clean"] = {"restore_punctuation": restore}
        results = {r.name: r for r in run_pipeline(ws, until="clean", log=lambda _: None)}
        docs = artifacts.read_jsonl(ws.stage_dir("clean") / "documents.jsonl")
        documents[restore] = {d["format"]: [w for p in d["pieces"] for w in p["text"].split()] for d in docs}
        if restore:
            report = results["clean"].report["punctuation_restored"]
    restored, original = documents[True]["txt"], documents[False]["txt"]
    assert P.words_key(restored) == P.words_key(original)
    assert documents[True]["markdown"] == documents[False]["markdown"]  # punctuated text is left alone
    assert report["documents"] == 1 and report["words"] == len(original)
    assert "Duluth" in [w.rstrip(",.?") for w in restored] and restored[0] == "So"
    assert sum(w.endswith((".", "?")) for w in restored) >= 3
