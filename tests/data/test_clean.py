"""clean: rolling captions, fillers, stutters, markup, boilerplate, unicode and duplicate passages."""

from __future__ import annotations

import random
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from fixture_files import (  # noqa: E402
    CHAT,
    FORMATS,
    HANDMADE_VTT,
    HTML,
    MARKDOWN,
    SRT,
    TXT,
    WHISPER_JSON,
    YOUTUBE_JSON,
    YOUTUBE_VTT,
)

from personatune import artifacts
from personatune.data import ingest, near_duplicates
from personatune.data.clean import (
    Cleaner,
    Settings,
    clean_document,
    collapse_rolling,
    dedup_documents,
)
from personatune.data.near_duplicates import NearDuplicateIndex, normalized_words, shingles
from personatune.data.punctuate import words_key
from personatune.data.runner import run_pipeline, run_stage
from personatune.workspace import Workspace, init_workspace

SPOKEN = ("so today I want to show you how I sharpen a chisel on diamond plates it only takes about five "
          "minutes and you really don't need a fancy honing guide to get a sharp edge just hold the angle "
          "steady and let the plate do the work")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONATUNE_CACHE", str(tmp_path / "cache"))


def fixture_doc(name: str) -> dict:
    return {"doc_id": name, "source": str(FORMATS / name),
            **ingest.parse_file(FORMATS / name, ingest.Settings())}


def make_doc(fmt: str, *texts: str, doc_id: str = "d1") -> dict:
    return {"doc_id": doc_id, "source": f"{doc_id}.{fmt}", "format": fmt, "title": doc_id,
            "pieces": [{"text": t, "start": None, "end": None, "offset": i * 100} for i, t in enumerate(texts)]}


def cleaned(doc: dict, **settings) -> tuple[dict, Cleaner]:
    s = Settings(**settings)
    cleaner = Cleaner(s)
    return clean_document(doc, s, cleaner), cleaner


def texts(doc: dict) -> list[str]:
    return [p["text"] for p in doc["pieces"]]


# ---------------------------------------------------------------- rolling captions


def test_youtube_rolling_captions_come_out_with_every_word_once():
    doc, cleaner = cleaned(fixture_doc(YOUTUBE_VTT))
    assert " ".join(texts(doc)) == SPOKEN
    assert texts(doc) == [
        "so today I want to show you",
        "how I sharpen a chisel on diamond plates",
        "it only takes about five minutes and",
        "you really don't need a fancy honing guide",
        "to get a sharp edge just hold the",
        "angle steady and let the plate do the work",
    ]
    # each line keeps the timing of the cue where it was first spoken, not of a 10 ms repeat
    assert [(p["start"], p["end"]) for p in doc["pieces"]] == [
        (1.53, 4.52), (4.53, 7.89), (7.9, 10.89), (10.9, 14.26), (14.27, 17.63), (17.64, 21.37)]
    # 47 words in the six 10 ms cues + 38 in the repeated upper rows of the next five cues
    assert cleaner.counts["caption_duplication"] == 85
    assert cleaner.counts["markup"] == 82  # one <c> and one </c> per timed word
    assert cleaner.counts["sound_tags"] == 3
    assert cleaner.examples["caption_duplication"][0] == "so today I want to show you"


def test_rolling_collapse_can_be_turned_off():
    doc, cleaner = cleaned(fixture_doc(YOUTUBE_VTT), collapse_rolling_captions=False)
    joined = " ".join(texts(doc))
    assert joined.count("so today I want to show you") == 3
    assert "caption_duplication" not in cleaner.counts


def test_collapse_rolling_unit():
    cleaner = Cleaner(Settings())
    pieces = [{"text": t, "start": float(i), "end": i + 1.0, "offset": None} for i, t in enumerate([
        "we glue the",
        "we glue the legs in pairs",
        "legs in pairs",
        "legs in pairs then the rails",
        "Then the rails.",              # punctuation and case do not hide a repeat
        "rails go in last",             # a single repeated word is real speech, kept
    ])]
    out = collapse_rolling(pieces, cleaner)
    assert [(p["text"], p["start"]) for p in out] == [
        ("we glue the", 0.0), ("legs in pairs", 1.0), ("then the rails", 3.0), ("rails go in last", 5.0)]
    assert cleaner.counts["caption_duplication"] == 3 + 3 + 3 + 3


def test_human_srt_is_not_mistaken_for_rolling_captions():
    doc, cleaner = cleaned(fixture_doc(SRT))
    assert texts(doc) == [
        "Okay, so this is the drill press I picked up at an estate sale.",
        "It's a 1970s floor model, and, the quill had about 3 mm of slop.",
        "Most of that came from the worn bushings, not the bearings.",
        "So I pressed the old ones out and cleaned the housing with mineral spirits.",
        "Then I put in two new bushings that cost me twelve dollars.",
        "Now the runout is under a hundredth of a millimeter at the chuck.",
    ]
    assert [(p["start"], p["end"]) for p in doc["pieces"]] == [
        (2.4, 6.12), (6.12, 10.05), (10.05, 14.3), (14.3, 18.9), (18.9, 23.48), (23.48, 27.7)]
    assert dict(cleaner.counts) == {"sound_tags": 2, "speaker_tags": 1, "fillers": 1, "stutters": 1}


# ---------------------------------------------------------------- fillers and stutters


@pytest.mark.parametrize(("raw", "expected"), [
    ("Um, so the fence has to be parallel.", "so the fence has to be parallel."),
    ("So, uh, the fence has to be parallel.", "So, the fence has to be parallel."),
    ("Uhh, the glue is still wet.", "the glue is still wet."),
    ("Hmm, okay, um, yeah.", "okay, yeah."),
    ("it's a 1970s floor model and um the quill", "it's a 1970s floor model and the quill"),
    ("It drifts a little, you know.", "It drifts a little."),
    ("So, you know, the blade drifts.", "So, the blade drifts."),
    ("Plane it to 3/4 inch, you know, 19 mm.", "Plane it to 3/4 inch, 19 mm."),
    ("Cut it to 3 mm, uh, 3.5 mm at most.", "Cut it to 3 mm, 3.5 mm at most."),
    # "you know" as a real verb stays
    ("do you know what a jointer is", "do you know what a jointer is"),
    ("Do you know how a jointer works?", "Do you know how a jointer works?"),
    ("Did you know walnut darkens in sunlight?", "Did you know walnut darkens in sunlight?"),
    ("If you know your wood, you can read the grain.", "If you know your wood, you can read the grain."),
    ("As you know, I built this bench in 2015.", "As you know, I built this bench in 2015."),
    ("you know that feeling when the glue skins over", "you know that feeling when the glue skins over"),
    ("Build with what you know.", "Build with what you know."),
    # words that merely contain a filler
    ("The drum sander and the umbrella stand.", "The drum sander and the umbrella stand."),
    ("Mm-hmm, right.", "Mm-hmm, right."),
])
def test_fillers(raw, expected):
    assert Cleaner(Settings()).remove_fillers(raw) == expected


@pytest.mark.parametrize(("raw", "expected"), [
    ("I I I think it's fine.", "I think it's fine."),
    ("Set the the fence to 3 mm.", "Set the fence to 3 mm."),
    ("The the THE fence is square.", "The fence is square."),
    ("I think I think it's square.", "I think it's square."),
    ("I was, um, I was going to say 45 degrees.", "I was going to say 45 degrees."),
    # real repetitions are kept
    ("We had had enough.", "We had had enough."),
    ("It is very very sharp.", "It is very very sharp."),
    ("No no no, not like that.", "No no no, not like that."),
    ("I said that that board was cupped.", "I said that that board was cupped."),
    ("Use a 2 2 spacing and 3 mm of reveal.", "Use a 2 2 spacing and 3 mm of reveal."),
])
def test_stutters(raw, expected):
    assert Cleaner(Settings()).remove_fillers(raw) == expected


def test_filler_and_stutter_counts():
    cleaner = Cleaner(Settings())
    out = cleaner.remove_fillers("Um, so you know I I I think the the fence is off by 3 mm.")
    assert out == "so I think the fence is off by 3 mm."
    assert cleaner.counts == Counter({"fillers": 3, "stutters": 3})
    assert cleaner.examples["stutters"] == ["I I I", "the the"]


def test_fillers_can_be_kept():
    doc = make_doc("txt", "um so I I think the the fence is off")
    out, cleaner = cleaned(doc, remove_fillers=False)
    assert texts(out) == ["um so I I think the the fence is off"]
    assert not cleaner.counts


# ---------------------------------------------------------------- markup, timestamps, speaker tags


@pytest.mark.parametrize(("raw", "fmt", "expected"), [
    ("<v Marta>Welcome back to the shop.</v>", "vtt", "Welcome back to the shop."),
    ("so today I want to show you\nhow<00:00:04.950><c> I</c><00:00:05.370><c> sharpen</c>", "vtt",
     "so today I want to show you how I sharpen"),
    ("<i>Quietly</i> sanding <b>with the grain</b>", "srt", "Quietly sanding with the grain"),
    (">> Okay, so this is the drill press\nI picked up at an estate sale.", "srt",
     "Okay, so this is the drill press I picked up at an estate sale."),
    (">>> Go across the grain first.", "srt", "Go across the grain first."),
    ("SPEAKER 1: Is a number five enough?", "srt", "Is a number five enough?"),
    ("Speaker 2: It is.", "srt", "It is."),
    ("MARTA: Go across the grain first.", "srt", "Go across the grain first."),
    ("DR. OKAFOR: Moisture first, then glue.", "srt", "Moisture first, then glue."),
    ("- Is it square?\n- Dead square.", "srt", "Is it square? Dead square."),
    ("[Music]", "srt", ""),
    ("[Applause] Thanks for coming out.", "srt", "Thanks for coming out."),
    ("[MUSIC PLAYING] [laughter] okay", "vtt", "okay"),
    ("(laughs) it's not that bad", "srt", "it's not that bad"),
    ("[00:01:23] So the first step is the fence.", "txt", "So the first step is the fence."),
    ("(12:05) and then we glue it up", "txt", "and then we glue it up"),
    ("Note: this is not a speaker tag.", "txt", "Note: this is not a speaker tag."),
    ("Set it to 3 mm (about 1/8 inch) and 45 degrees.", "txt", "Set it to 3 mm (about 1/8 inch) and 45 degrees."),
    ("**Bold** and *italic* and `code`, [a link](https://example.com/x) and ![a diagram](img/cut.png)",
     "markdown", "Bold and italic and code, a link and a diagram"),
    ("## Put the big tools on wheels", "markdown", ""),  # a title, not a sentence of the answer
    # a picture alone in its paragraph: its alt text would fuse with the next sentence ("... workspace The shell")
    ("[![Screenshot of my workspace](https://x.example/1.png)](https://x.example/1.png)", "markdown", ""),
    ("Fast &mdash; and cheap &amp; easy.", "markdown", "Fast — and cheap & easy."),
    ("Setext title\n============\nFirst line.", "markdown", "First line."),
    ("It holds.[^1]\n\n[^1]: https://example.com/note", "markdown", "It holds."),
    ("- The table saw lives in the middle.\n- Lumber goes on a wall rack.\n1. Then the bench.", "markdown",
     "The table saw lives in the middle. Lumber goes on a wall rack. Then the bench."),
    ("> Measure twice.", "markdown", "Measure twice."),
    ("| Tool | Footprint |\n|------|:---------:|\n| Table saw | 4 x 6 ft |", "markdown",
     "Tool Footprint Table saw 4 x 6 ft"),
])
def test_strip_markup(raw, fmt, expected):
    assert Cleaner(Settings()).strip_markup(raw, fmt) == expected


def test_markup_counts_by_reason():
    cleaner = Cleaner(Settings())
    cleaner.strip_markup(">> [Music] <v Sam>[00:00:05] Is it square?</v>", "srt")
    assert cleaner.counts == Counter({"speaker_tags": 1, "sound_tags": 1, "markup": 3, "timestamps": 1})


def test_markdown_fixture_cleaned():
    doc, _ = cleaned(fixture_doc(MARKDOWN))
    assert texts(doc) == [
        "My shop is a single-car garage, 11 by 20 feet, and for the first two years I kept moving things "
        "around until it worked. Here is what I learned.",
        "The table saw lives in the middle, on a mobile base. The jointer and planer share one cart, so they "
        "take up the footprint of one tool. Lumber goes on a wall rack, never on the floor.",
        "I wrote more about mobile bases in my cart build post, including the casters I would buy again.",
        "Tool Footprint On wheels? Table saw 4 x 6 ft yes Bandsaw 2 x 2 ft no",
        "The one thing I would do differently: run the dust collection ducting before the tools move in.",
    ]
    # provenance survives cleaning
    assert [p["offset"] for p in doc["pieces"]] == [134, 315, 505, 642, 799]


def test_handmade_vtt_voice_tags_removed():
    doc, _ = cleaned(fixture_doc(HANDMADE_VTT))
    assert texts(doc) == [
        "Welcome back to the shop.",
        "Today we're flattening a workbench top with a hand plane.",
        "Is a number five enough for that?",
        "It is. Go across the grain first, then diagonally, then with the grain.",
    ]


# ---------------------------------------------------------------- unicode


@pytest.mark.parametrize(("raw", "expected"), [
    ("\u201cIt\u2019s fine,\u201d she said. \u2018Really.\u2019", "\"It's fine,\" she said. 'Really.'"),
    ("a 3\u00a0mm reveal", "a 3 mm reveal"),
    ("dove\u200btails and half\u200c-\u200dblind", "dovetails and half-blind"),
    ("\ufeffHello", "Hello"),
    ("the \ufb01nish on the \ufb02oor", "the finish on the floor"),
    ("cafe\u0301 au lait", "caf\u00e9 au lait"),
    ("one\u2003two\tthree\n\nfour", "one two three four"),
])
def test_unicode_normalised(raw, expected):
    assert Cleaner(Settings()).strip_markup(raw, "txt") == expected


# ---------------------------------------------------------------- sponsor reads and outros


def test_whisper_sponsor_read_removed_up_to_call_to_action():
    doc, cleaner = cleaned(fixture_doc(WHISPER_JSON))
    assert texts(doc) == [
        "Okay, so somebody asked",
        "why I still use hide glue for chairs and stools. It's reversible.",
        "If a joint fails in thirty years, someone can steam it apart and reglue it.",
        # a personal mention of "sponsors" is not a sponsor read
        "When I joined the guild, my two sponsors were old chairmakers, and they taught me that.",
    ]
    # the surviving half of the segment that held the end of the read keeps that segment's timing
    assert (doc["pieces"][0]["start"], doc["pieces"][0]["end"]) == (9.9, 12.02)
    assert cleaner.examples["sponsor_and_outro"] == [
        "Before we get into it, today's video is sponsored by Timberline Tools.",
        "They make the marking gauges I use every day.",
        "Right now you can get 15% off with code BENCH15 at the link in the description.",
    ]
    assert cleaner.counts["sponsor_and_outro"] == 12 + 9 + 16


def test_sponsor_read_across_pieces_in_a_blog_transcript():
    doc = make_doc("txt",
                   "So the glue-up went fine. This episode is brought to you by Northwind Lumber.",
                   "They ship kiln-dried walnut anywhere in the country. Go to northwindlumber.com and use "
                   "code NOTES for free shipping.",
                   "Anyway, back to the legs. I cut the tenons a little fat on purpose.",
                   "Honestly, my sponsors at the guild would have laughed at how long that took me.")
    out, cleaner = cleaned(doc)
    assert texts(out) == [
        "So the glue-up went fine.",
        "Anyway, back to the legs. I cut the tenons a little fat on purpose.",
        "Honestly, my sponsors at the guild would have laughed at how long that took me.",
    ]
    assert [p["offset"] for p in out["pieces"]] == [0, 200, 300]
    assert cleaner.counts["sponsor_and_outro"] == 8 + 8 + 11


def test_sponsor_read_in_unpunctuated_captions_uses_caption_lines():
    doc = make_doc("txt", "okay so before the glue up", "this video is sponsored by northwind lumber",
                   "they ship kiln dried walnut anywhere", "go to the link in the description",
                   "okay so back to the legs")
    out, _ = cleaned(doc)
    assert texts(out) == ["okay so before the glue up", "okay so back to the legs"]


def test_sponsor_opener_without_call_to_action_drops_only_the_opener():
    doc = make_doc("txt", "This build was sponsored by nobody, which is why it took a year. "
                          "I bought every board myself. The walnut came from a neighbour's tree.")
    out, _ = cleaned(doc)
    assert texts(out) == ["I bought every board myself. The walnut came from a neighbour's tree."]


def test_like_and_subscribe_outro_removed_from_auto_captions():
    doc, cleaner = cleaned(fixture_doc(YOUTUBE_JSON))
    assert texts(doc) == [
        "rough lumber shows up cupped twisted and",
        "a little bit oversized so the first job",
        "is to get one face flat on the jointer",
        "then one edge square to that face",
        "and only then do you go to the planer",
        "to make the other face parallel",
        "if you skip the jointer the planer just",
        "copies the cup into a thinner board",
        "so that's the order jointer planer then table saw for the last edge",
    ]
    assert cleaner.examples["sponsor_and_outro"] == [
        "if this helped hit the like button and subscribe so you don't miss the next one", "thanks for watching"]


def test_punctuated_outro_removed_but_the_last_real_sentence_kept():
    doc = make_doc("whisper", "That's it for the stool, and honestly I like how the", "splay came out.",
                   "If you enjoyed this, hit the like button and subscribe.",
                   "Thanks for watching, and I'll see you next week.")
    out, _ = cleaned(doc)
    assert texts(out) == ["That's it for the stool, and honestly I like how the", "splay came out."]


def test_extra_boilerplate_patterns():
    doc = make_doc("txt", "Patreon supporters get the plans. The legs are splayed at 12 degrees.")
    out, cleaner = cleaned(doc, extra_boilerplate=[r"\bpatreon\b"])
    assert texts(out) == ["The legs are splayed at 12 degrees."]
    assert cleaner.examples["sponsor_and_outro"] == ["Patreon supporters get the plans."]


# ---------------------------------------------------------------- duplicates


PASSAGE = ("When I flatten a bench top I always start across the grain with a jack plane, then go "
           "diagonally both ways, and only at the end do I plane with the grain using a freshly honed "
           "smoother so the surface is ready for finish without sanding.")


def _dedup(docs: list[dict], **settings) -> tuple[dict, Cleaner]:
    s = Settings(**settings)
    cleaner = Cleaner(s)
    return dedup_documents(docs, s, cleaner), cleaner


def test_exact_duplicate_across_documents():
    first = make_doc("txt", PASSAGE, doc_id="a")
    # the same passage re-posted in lower case without punctuation, split over caption lines
    words = normalized_words(PASSAGE)
    again = make_doc("txt", " ".join(words[:20]), " ".join(words[20:]), doc_id="b")
    other = make_doc("txt", "Shellac is my default finish for anything that lives indoors and sees little water.",
                     doc_id="c")
    stats, cleaner = _dedup([first, again, other])
    assert stats == {"exact_duplicate_passages": 1, "duplicate_documents": 1}
    assert texts(first) == [PASSAGE]
    assert again["pieces"] == []
    assert len(other["pieces"]) == 1
    assert cleaner.counts["duplicates"] == len(words)


def test_near_duplicate_srt_and_auto_caption_txt_of_the_same_talk():
    s = Settings()
    cleaner = Cleaner(s)
    srt = clean_document(fixture_doc(SRT), s, cleaner)
    txt = clean_document(fixture_doc(TXT), s, cleaner)
    a, b = (normalized_words(" ".join(texts(d))) for d in (srt, txt))
    jaccard = len(shingles(a) & shingles(b)) / len(shingles(a) | shingles(b))
    assert 0.7 <= jaccard < 1.0  # "an estate" vs "a state", "3 mm" vs "three millimeters"
    stats = dedup_documents([srt, txt], s, cleaner)
    assert stats == {"near_duplicate_passages": 1, "duplicate_documents": 1}
    assert len(srt["pieces"]) == 6 and txt["pieces"] == []


def test_short_passages_and_different_talks_are_not_duplicates():
    docs = [make_doc("txt", "See you all Saturday.", PASSAGE, doc_id="a"),
            make_doc("txt", "See you all Saturday.", fixture_doc(TXT)["pieces"][0]["text"], doc_id="b")]
    stats, _ = _dedup(docs)
    assert stats == {}
    assert [len(d["pieces"]) for d in docs] == [2, 2]


def test_repeated_passage_within_one_document():
    filler = ("Then I cut the shoulders with a carcass saw and pare the cheeks down to the knife line, "
              "checking the fit as I go and never forcing the joint together with a mallet before glue.")
    doc = make_doc("txt", PASSAGE, filler, PASSAGE, doc_id="a")
    stats, _ = _dedup([doc], dedup_block_words=30)  # each piece is a passage of its own
    assert stats == {"exact_duplicate_passages": 1}
    assert texts(doc) == [PASSAGE, filler]


def test_dedup_threshold_setting():
    srt = clean_document(fixture_doc(SRT), Settings(), Cleaner(Settings()))
    txt = clean_document(fixture_doc(TXT), Settings(), Cleaner(Settings()))
    stats, _ = _dedup([srt, txt], dedup_threshold=0.95)
    assert stats == {}
    assert len(txt["pieces"]) == 10


def test_near_duplicate_index_finds_a_planted_copy_among_2000_passages(monkeypatch):
    rng = random.Random(7)
    vocabulary = [f"w{i}" for i in range(5000)]
    passages = [[rng.choice(vocabulary) for _ in range(60)] for _ in range(2000)]
    planted = list(passages[1234])
    planted[30] = "walnut"          # one word changed and two added: Jaccard about 0.9
    planted += ["and", "cherry"]
    unrelated = [rng.choice(vocabulary) for _ in range(60)]

    comparisons = 0
    real_intersect = np.intersect1d

    def counting(*args, **kwargs):
        nonlocal comparisons
        comparisons += 1
        return real_intersect(*args, **kwargs)

    monkeypatch.setattr(near_duplicates.np, "intersect1d", counting)
    index = NearDuplicateIndex(threshold=0.7)
    started = time.perf_counter()
    for i, words in enumerate(passages):
        assert index.check_and_add(f"p{i}", shingles(words)) is None
    assert index.check_and_add("planted", shingles(planted)) == "p1234"
    assert index.check_and_add("unrelated", shingles(unrelated)) is None
    elapsed = time.perf_counter() - started
    # LSH compares only items that share a band: a handful, not the 2 million pairs of a full scan
    assert comparisons < 50
    assert elapsed < 20
    assert len(index.sets) == 2001  # the planted copy is not added; the unrelated passage is


# ---------------------------------------------------------------- the stage


def _ws(tmp_path: Path, *sources: Path) -> Workspace:
    root = tmp_path / "ws"
    init_workspace(root, [str(s) for s in sources])
    return Workspace.open(root)


def test_clean_stage_report_over_every_format(tmp_path):
    ws = _ws(tmp_path, FORMATS)
    log: list[str] = []
    results = run_pipeline(ws, until="clean", log=log.append)
    assert [r.name for r in results] == ["ingest", "clean"]
    report = results[1].report
    assert report["documents_in"] == 9
    assert report["documents_out"] == 8
    assert report["near_duplicate_passages"] == 1
    assert report["duplicate_documents"] == 1
    assert "exact_duplicate_passages" not in report
    assert report["removed_words_by_reason"] == {
        "caption_duplication": 85,   # YouTube .vtt
        "duplicates": 78,            # the .txt copy of the .srt talk, after its own cleaning
        "fillers": 2,                # "um" in the .srt and in the .txt
        "headings": 13,              # the .md's title and section headings
        "markup": 82,                # the <c>/</c> tags in the YouTube .vtt (<v> voice tags are read by ingest)
        "sound_tags": 6,             # [Music] x3 (.vtt), x2 (.srt), x1 (.json)
        "speaker_tags": 1,           # ">>" in the .srt
        "sponsor_and_outro": 56,     # 19 outro words (.json) + 37 sponsor-read words (Whisper)
        "stutters": 2,               # "the the" in the .srt and in the .txt
    }
    ingested = artifacts.read_jsonl(ws.stage_dir("ingest") / "documents.jsonl")
    out = artifacts.read_jsonl(ws.stage_dir("clean") / "documents.jsonl")
    assert report["words_in"] == sum(len(p["text"].split()) for d in ingested for p in d["pieces"])
    assert report["words_out"] == sum(len(p["text"].split()) for d in out for p in d["pieces"]) == 568
    assert [Path(d["source"]).name for d in out] == [
        MARKDOWN, SRT, CHAT, HANDMADE_VTT, HTML, YOUTUBE_VTT, YOUTUBE_JSON, WHISPER_JSON]
    by_name = {Path(d["source"]).name: d for d in out}
    # the auto-captions come out with the same words, now punctuated and capitalised (data.punctuate)
    restored = " ".join(texts(by_name[YOUTUBE_VTT])).split()
    assert words_key(restored) == words_key(SPOKEN.split())
    assert restored[0] == "So" and restored[-1].endswith(".") and report["punctuation_restored"]["documents"] >= 1
    assert by_name[SRT]["pieces"][1]["text"] == "It's a 1970s floor model, and, the quill had about 3 mm of slop."
    everything = " ".join(p["text"] for d in out for p in d["pieces"])
    for gone in ("[Music]", ">>", "<c>", "</v>", "<00:", "sponsored by", "BENCH15", "subscribe",
                 "thanks for watching", " um ", "the the", "**", "](http", "|---"):
        assert gone not in everything
    assert f"  {report['words_in']} -> 568 words; removed by reason: caption_duplication 85, duplicates 78, " \
           "fillers 2, headings 13, markup 82, sound_tags 6, speaker_tags 1, sponsor_and_outro 56, stutters 2" in log


def test_clean_stage_without_dedup_keeps_both_copies(tmp_path):
    ws = _ws(tmp_path, FORMATS / SRT, FORMATS / TXT)
    run_stage(ws, "ingest", log=lambda _: None)
    report = run_stage(ws, "clean", {"dedup": False}, log=lambda _: None).report
    assert report["documents_out"] == 2
    assert "duplicates" not in report["removed_words_by_reason"]
    assert "near_duplicate_passages" not in report
    report = run_stage(ws, "clean", log=lambda _: None).report
    assert report["documents_out"] == 1 and report["near_duplicate_passages"] == 1


def test_clean_stage_needs_ingest_first(tmp_path):
    from personatune.errors import UserError

    ws = _ws(tmp_path, FORMATS / SRT)
    with pytest.raises(UserError, match="needs the output of 'ingest'"):
        run_stage(ws, "clean", log=lambda _: None)
