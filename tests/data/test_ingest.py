"""ingest: every supported format parsed from realistic files, provenance, titles, bad input, --strict."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from fixture_files import (  # noqa: E402
    BAD,
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
from personatune.cli import main
from personatune.data import ingest
from personatune.data.runner import run_pipeline, run_stage
from personatune.errors import SkippedInput, UserError
from personatune.workspace import Workspace, init_workspace

# An .m4a someone renamed to .txt: the MP4 box header is full of NUL bytes.
BINARY_BYTES = (b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42\x00\x00\x00\x08free"
                b"\x00\x1b\x4c\x2amdat\x21\x00\x03\x40\x68\x1c\x21\x4e\x00" * 4)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONATUNE_CACHE", str(tmp_path / "cache"))


def parse(name: str, folder: Path = FORMATS, **settings) -> dict:
    return ingest.parse_file(folder / name, ingest.Settings(**settings))


def texts(doc: dict) -> list[str]:
    return [p["text"] for p in doc["pieces"]]


def times(doc: dict) -> list[tuple[float, float]]:
    return [(p["start"], p["end"]) for p in doc["pieces"]]


def make_ws(tmp_path: Path, *sources: Path) -> Workspace:
    root = tmp_path / "ws"
    init_workspace(root, [str(s) for s in sources])
    return Workspace.open(root)


def read_documents(ws: Workspace, stage: str = "ingest") -> list[dict]:
    return artifacts.read_jsonl(ws.stage_dir(stage) / "documents.jsonl")


# ---------------------------------------------------------------- timed captions


def test_youtube_auto_caption_vtt_keeps_every_cue_with_its_timing():
    doc = parse(YOUTUBE_VTT)
    assert doc["format"] == "vtt"
    assert doc["title"] == "Chisel sharpening"
    assert times(doc) == [
        (0.0, 1.52), (1.52, 1.53), (1.53, 4.52), (4.52, 4.53), (4.53, 7.89), (7.89, 7.9),
        (7.9, 10.89), (10.89, 10.9), (10.9, 14.26), (14.26, 14.27), (14.27, 17.63), (17.63, 17.64),
        (17.64, 21.37), (21.37, 21.38),
    ]
    pieces = doc["pieces"]
    # The " " upper row of the first cue is neither a cue separator nor text.
    assert pieces[0] == {"text": "[Music]", "start": 0.0, "end": 1.52, "offset": None}
    # The 10 ms cues repeat the finished line; their trailing " " row is dropped.
    assert pieces[3]["text"] == "so today I want to show you"
    assert pieces[13]["text"] == "angle steady and let the plate do the work"
    # Ingest keeps the cue body as written; clean removes the inline timing tags later.
    assert pieces[4]["text"] == (
        "so today I want to show you\n"
        "how<00:00:04.950><c> I</c><00:00:05.370><c> sharpen</c><00:00:05.790><c> a</c>"
        "<00:00:06.210><c> chisel</c><00:00:06.630><c> on</c><00:00:07.050><c> diamond</c>"
        "<00:00:07.470><c> plates</c>"
    )
    joined = "\n".join(texts(doc))
    for header in ("WEBVTT", "Kind:", "Language:", "align:start", "-->"):
        assert header not in joined


def test_handmade_vtt_skips_note_blocks_and_cue_identifiers():
    doc = parse(HANDMADE_VTT)
    assert doc["format"] == "vtt"
    assert texts(doc) == [
        "Welcome back to the shop.",
        "Today we're flattening a\nworkbench top with a hand plane.",
        "Is a number five enough for that?",
        "It is. Go across the grain first,\nthen diagonally, then with the grain.",
    ]
    assert [p["speaker"] for p in doc["pieces"]] == ["Marta", "Marta", "Sam", "Marta"]  # WebVTT voice spans
    # cue settings ("line:85% align:center") are ignored; mm:ss.ttt timestamps without hours parse
    assert times(doc) == [(0.0, 4.5), (4.5, 9.25), (9.25, 12.0), (12.0, 16.75)]
    joined = " ".join(texts(doc))
    assert "Descript" not in joined and "second half" not in joined and "intro" not in joined


def test_srt_with_speaker_marks_and_music_tags():
    doc = parse(SRT)
    assert doc["format"] == "srt"
    assert doc["title"] == "Drill press restore"
    assert texts(doc) == [
        "[Music]",
        ">> Okay, so this is the drill press\nI picked up at an estate sale.",
        "It's a 1970s floor model, and, um,\nthe quill had about 3 mm of slop.",
        "Most of that came from the the\nworn bushings, not the bearings.",
        "So I pressed the old ones out and\ncleaned the housing with mineral spirits.",
        "Then I put in two new bushings\nthat cost me twelve dollars.",
        "Now the runout is under a hundredth\nof a millimeter at the chuck.",
        "[Music]",
    ]
    assert times(doc) == [(0.0, 2.4), (2.4, 6.12), (6.12, 10.05), (10.05, 14.3), (14.3, 18.9),
                          (18.9, 23.48), (23.48, 27.7), (27.7, 30.0)]
    assert all(p["offset"] is None for p in doc["pieces"])


def test_srt_saved_by_windows_tool_utf16_bom_and_crlf(tmp_path):
    srt = ("1\r\n00:01:02,500 --> 00:01:04,250\r\nSPEAKER 1: Is it square?\r\n\r\n"
           "2\r\n01:00:04,250 --> 01:00:06,000\r\nSPEAKER 2: Dead square.\r\n")
    path = tmp_path / "interview.srt"
    path.write_bytes(srt.encode("utf-16"))  # BOM + UTF-16LE, as Subtitle Edit writes it
    doc = parse(path.name, folder=tmp_path)
    assert texts(doc) == ["SPEAKER 1: Is it square?", "SPEAKER 2: Dead square."]
    assert doc["pieces"][0]["start"] == pytest.approx(62.5)
    assert doc["pieces"][0]["end"] == pytest.approx(64.25)
    assert doc["pieces"][1]["start"] == pytest.approx(3604.25)
    assert doc["pieces"][1]["end"] == pytest.approx(3606.0)


def test_vtt_with_utf8_bom(tmp_path):
    path = tmp_path / "clip.vtt"
    path.write_bytes(b"\xef\xbb\xbfWEBVTT\n\n00:00:01.000 --> 00:00:02.500\nGlue both faces.\n")
    doc = parse(path.name, folder=tmp_path)
    assert doc["pieces"] == [{"text": "Glue both faces.", "start": 1.0, "end": 2.5, "offset": None}]


def test_youtube_transcript_api_json():
    doc = parse(YOUTUBE_JSON)
    assert doc["format"] == "youtube"
    assert doc["title"] == "Milling rough lumber"
    assert len(doc["pieces"]) == 12
    assert doc["pieces"][1]["text"] == "rough lumber shows up cupped twisted and"
    assert doc["pieces"][9]["text"] == "so that's the order jointer planer\nthen table saw for the last edge"
    assert doc["pieces"][11]["text"] == "thanks for watching"
    # end = start + duration (youtube-transcript-api gives no end)
    assert doc["pieces"][1]["start"] == pytest.approx(2.16)
    assert doc["pieces"][1]["end"] == pytest.approx(6.0)
    assert doc["pieces"][5]["start"] == pytest.approx(9.92)
    assert doc["pieces"][5]["end"] == pytest.approx(13.12)
    assert doc["pieces"][11]["end"] == pytest.approx(27.2)


def test_youtube_transcript_api_json_wrapped_in_transcript_key(tmp_path):
    path = tmp_path / "wrapped.json"
    path.write_text(json.dumps({"video_id": "abc", "transcript": [
        {"text": "plane across the grain", "start": 1.5, "duration": 2.0},
        {"text": "   ", "start": 3.5, "duration": 0.5},
    ]}), encoding="utf-8")
    doc = parse(path.name, folder=tmp_path)
    assert doc["format"] == "youtube"
    assert doc["pieces"] == [{"text": "plane across the grain", "start": 1.5, "end": 3.5, "offset": None}]


def test_whisper_json_uses_segments_not_the_full_text():
    doc = parse(WHISPER_JSON)
    assert doc["format"] == "whisper"
    assert doc["title"] == "Shop stool"
    assert texts(doc) == [
        " Before we get into it, today's video is sponsored by Timberline Tools.",
        " They make the marking gauges I use every day.",
        " Right now you can get 15% off with code BENCH15",
        " at the link in the description. Okay, so somebody asked",
        " why I still use hide glue for chairs and stools. It's reversible.",
        " If a joint fails in thirty years, someone can steam it apart and reglue it.",
        " When I joined the guild, my two sponsors were old chairmakers, and they taught me that.",
    ]
    assert times(doc) == [(0.0, 3.84), (3.84, 6.2), (6.2, 9.9), (9.9, 12.02), (12.02, 15.5),
                          (15.5, 20.1), (20.1, 25.36)]


# ---------------------------------------------------------------- text documents


def test_auto_caption_txt_one_piece_per_line_with_offsets():
    doc = parse(TXT)
    assert doc["format"] == "txt"
    assert doc["title"] == "Drill press restore"
    assert texts(doc) == [
        "okay so this is the drill press i picked",
        "up at a state sale it's a 1970s floor",
        "model and um the quill had about three",
        "millimeters of slop most of that came",
        "from the the worn bushings not the",
        "bearings so i pressed the old ones out and",
        "cleaned the housing with mineral spirits",
        "then i put in two new bushings that cost",
        "me twelve dollars now the runout is under",
        "a hundredth of a millimeter at the chuck",
    ]
    assert [p["offset"] for p in doc["pieces"]] == [0, 41, 79, 118, 156, 191, 234, 275, 316, 358]
    original = (FORMATS / TXT).read_text(encoding="utf-8")
    for p in doc["pieces"]:
        assert original[p["offset"]:p["offset"] + len(p["text"])] == p["text"]
        assert p["start"] is None and p["end"] is None


def test_txt_offsets_skip_indentation_and_survive_bom_and_crlf(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes("\ufeffFirst coat: thin.\r\n\r\n   Second coat, a day later.\r\nDone.\r\n".encode())
    doc = parse(path.name, folder=tmp_path)
    assert texts(doc) == ["First coat: thin.", "Second coat, a day later.", "Done."]
    # offsets index the text as Python reads it (BOM dropped, newlines universal)
    original = path.read_text(encoding="utf-8-sig")
    for p in doc["pieces"]:
        assert original[p["offset"]:p["offset"] + len(p["text"])] == p["text"]
    assert [p["offset"] for p in doc["pieces"]] == [0, 22, 48]


def test_markdown_front_matter_removed_title_kept_offsets_exact():
    doc = parse(MARKDOWN)
    assert doc["format"] == "markdown"
    assert doc["title"] == "Laying Out a Small Shop"
    assert texts(doc) == [
        "# Laying out a small shop",
        "My shop is a single-car garage, **11 by 20 feet**, and for the first two years\n"
        "I kept moving things around until it worked. Here is what I learned.",
        "## Put the big tools on wheels",
        "- The table saw lives in the middle, on a mobile base.\n"
        "- The jointer and planer share one cart, so they take up the footprint of one tool.\n"
        "- Lumber goes on a wall rack, never on the floor.",
        "I wrote more about mobile bases in [my cart build post](https://example.com/2020/mobile-cart),\n"
        "including the casters I would buy again.",
        "| Tool      | Footprint | On wheels? |\n|-----------|-----------|------------|\n"
        "| Table saw | 4 x 6 ft  | yes        |\n| Bandsaw   | 2 x 2 ft  | no         |",
        "The one thing I would do differently: run the dust collection ducting *before* the tools move in.",
    ]
    joined = "\n".join(texts(doc))
    for front_matter in ("title:", "date:", "2021-05-14", "tags:", "small-spaces", "draft:", "---\n"):
        assert front_matter not in joined
    original = (FORMATS / MARKDOWN).read_text(encoding="utf-8")
    assert doc["pieces"][0]["offset"] == 107
    for p in doc["pieces"]:
        assert original[p["offset"]:p["offset"] + len(p["text"])] == p["text"]


def test_markdown_title_falls_back_to_heading_then_file_name(tmp_path):
    (tmp_path / "dovetails.md").write_text("---\ndate: 2022-02-01\n---\n\nIntro line.\n\n# Hand-cut dovetails\n\n"
                                           "Tails first, always.\n", encoding="utf-8")
    (tmp_path / "2020-01-sharpening-angles.md").write_text("Twenty-five degrees, then a microbevel.\n",
                                                           encoding="utf-8")
    with_heading = parse("dovetails.md", folder=tmp_path)
    assert with_heading["title"] == "Hand-cut dovetails"
    assert texts(with_heading) == ["Intro line.", "# Hand-cut dovetails", "Tails first, always."]
    assert parse("2020-01-sharpening-angles.md", folder=tmp_path)["title"] == "Sharpening angles"


def test_markdown_with_broken_front_matter_is_skipped_with_reason(tmp_path):
    (tmp_path / "post.md").write_text("---\ntitle: [unclosed\n---\n\nBody.\n", encoding="utf-8")
    with pytest.raises(SkippedInput, match="front matter between the --- lines is not valid YAML"):
        parse("post.md", folder=tmp_path)


def test_html_keeps_readable_text_only():
    doc = parse(HTML)
    assert doc["format"] == "html"
    # entities decoded; the <title> inside the footer's inline SVG icon is not the page title
    assert doc["title"] == "Finishing FAQ & Troubleshooting | Workbench Notes"
    assert texts(doc) == [
        "Finishing FAQ",
        "These are the questions I get most often about finishing, answered the way I would answer "
        "them in the shop.",
        "What should I put on a cutting board?",
        "Plain mineral oil, or oil mixed with beeswax. Skip anything that cures into a film; a knife "
        "cuts through it in a week.",
        "Flood the board with oil and let it soak for twenty minutes.",
        "Wipe off everything that did not soak in.",
        "Repeat once a month, or whenever the wood looks dry.",
        "Why is my shellac blotchy?",
        "Usually the cut is too heavy. Thin it to a one-pound cut and put on three light coats instead "
        "of one heavy one.",
    ]
    joined = " ".join(texts(doc))
    for hidden in ("dataLayer", "gtag", "trackPageview", "font-family", "Shop my tools", "Home",
                   "All rights reserved", "YouTube"):
        assert hidden not in joined


def test_html_offsets_point_at_the_first_character_of_each_block():
    doc = parse(HTML)
    original = (FORMATS / HTML).read_text(encoding="utf-8")
    for p in doc["pieces"]:
        head = p["text"][:20]
        assert original.startswith(head, p["offset"]), (p["offset"], original[p["offset"]:p["offset"] + 20])
    # the last paragraph starts on the line after its <p>, indented
    last = doc["pieces"][-1]["offset"]
    assert original[last - 7:last] == "\n" + " " * 6
    assert original[last:last + 29] == "Usually the cut is too heavy."


def test_html_without_title_falls_back_to_file_name(tmp_path):
    (tmp_path / "2019-03-glue-guide.htm").write_text(
        "<html><body><p>Titebond III for anything outside.</p><br><p>Hide glue for chairs.</p></body></html>",
        encoding="utf-8")
    doc = parse("2019-03-glue-guide.htm", folder=tmp_path)
    assert doc["title"] == "Glue guide"
    assert texts(doc) == ["Titebond III for anything outside.", "Hide glue for chairs."]


def test_html_with_only_navigation_is_skipped(tmp_path):
    (tmp_path / "menu.html").write_text("<html><head><title>Menu</title></head><body><nav><a href='/'>Home</a>"
                                        "</nav><script>x()</script></body></html>", encoding="utf-8")
    with pytest.raises(SkippedInput, match="HTML page has no readable text"):
        parse("menu.html", folder=tmp_path)


def test_chat_jsonl_keeps_only_assistant_messages():
    doc = parse(CHAT)
    assert doc["format"] == "chat"
    assert doc["title"] == "Chat export"
    assert texts(doc) == [
        "A number five jack plane. It can flatten, joint and smooth well enough while you learn what you "
        "actually need next.",
        "Usually, yes. Check the sole for cracks and the frog for a broken casting; rust just costs you an "
        "afternoon.",
        "Replace it if the back is pitted near the edge. Otherwise flatten the back and keep it.",
    ]
    joined = " ".join(texts(doc))
    assert "You are Marta" not in joined and "flea market" not in joined and "And the blade?" not in joined
    # the offset is the start of the JSON line the message came from
    original = (FORMATS / CHAT).read_text(encoding="utf-8")
    assert [p["offset"] for p in doc["pieces"]] == [0, 347, 347]
    for p in doc["pieces"]:
        line = original[p["offset"]:original.index("\n", p["offset"])]
        contents = [m["content"] for m in json.loads(line)["messages"] if m["role"] == "assistant"]
        assert p["text"] in contents


def test_chat_roles_setting_selects_other_speakers():
    doc = parse(CHAT, chat_roles=["user"])
    assert texts(doc) == ["What's the first hand plane I should buy?",
                          "Is a used plane from a flea market worth it?", "And the blade?"]


@pytest.mark.parametrize(("name", "title"), [
    (YOUTUBE_VTT, "Chisel sharpening"),
    (HANDMADE_VTT, "Episode 12 bench flattening"),
    (SRT, "Drill press restore"),
    (TXT, "Drill press restore"),
    (YOUTUBE_JSON, "Milling rough lumber"),
    (WHISPER_JSON, "Shop stool"),
    (MARKDOWN, "Laying Out a Small Shop"),
    (HTML, "Finishing FAQ & Troubleshooting | Workbench Notes"),
    (CHAT, "Chat export"),
])
def test_titles(name, title):
    assert parse(name)["title"] == title


def test_sha256_is_of_the_file_bytes():
    doc = parse(SRT)
    assert doc["sha256"] == artifacts.sha256_file(FORMATS / SRT)


# ---------------------------------------------------------------- the stage


def test_stage_reads_every_format_in_the_folder(tmp_path):
    before = {p.name: artifacts.sha256_file(p) for p in FORMATS.iterdir()}
    init_workspace(tmp_path / "ws", [str(FORMATS)], name="Marta Kowalczyk")
    ws = Workspace.open(tmp_path / "ws")
    log: list[str] = []
    result = run_stage(ws, "ingest", log=log.append)
    report = result.report
    assert report["documents"] == 9
    assert report["skipped"] == 0 and report["skipped_files"] == []
    assert report["formats"] == {"vtt": 2, "srt": 1, "txt": 1, "youtube": 1, "whisper": 1, "markdown": 1,
                                 "html": 1, "chat": 1}
    docs = read_documents(ws)
    assert [Path(d["source"]).name for d in docs] == sorted(before)
    assert report["pieces"] == sum(len(d["pieces"]) for d in docs) == 14 + 4 + 8 + 10 + 12 + 7 + 7 + 9 + 3
    for d in docs:
        assert d["doc_id"] == artifacts.sha256_text(Path(d["source"]).name)[:12]  # its path inside the source folder
        assert d["sha256"] == before[Path(d["source"]).name]
        voices = [p.pop("voice", None) for p in d["pieces"]]
        assert d == {"doc_id": d["doc_id"], "source": d["source"],
                     **parse(Path(d["source"]).name)}
        if Path(d["source"]).name == HANDMADE_VTT:  # Marta's episode with Sam: her voice, and another
            assert voices == ["person", "person", "other", "person"]
        else:
            assert set(voices) == {None}
    assert report["speakers"] == {str(FORMATS / HANDMADE_VTT): {"speakers": {"Marta": 3, "Sam": 1},
                                                                 "person": ["Marta"]}}
    assert "  9 documents (chat: 1, html: 1, markdown: 1, srt: 1, txt: 1, vtt: 2, whisper: 1, youtube: 1), " \
           "0 skipped" in log
    # sources are only read
    assert {p.name: artifacts.sha256_file(p) for p in FORMATS.iterdir()} == before


def test_folders_are_read_recursively_and_hidden_files_skipped(tmp_path):
    src = tmp_path / "creator"
    (src / "videos" / "2023").mkdir(parents=True)
    (src / "blog").mkdir()
    (src / ".drafts").mkdir()
    shutil.copy(FORMATS / YOUTUBE_VTT, src / "videos" / "2023" / YOUTUBE_VTT)
    shutil.copy(FORMATS / MARKDOWN, src / "blog" / MARKDOWN)
    (src / ".drafts" / "unfinished.md").write_text("Half a thought about drawbore pins.\n", encoding="utf-8")
    (src / "blog" / f"._{MARKDOWN}").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        ")
    (src / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1\x00\x00\x10\x00")
    ws = make_ws(tmp_path, src)

    report = run_stage(ws, "ingest", log=lambda _: None).report
    assert report["documents"] == 2 and report["skipped"] == 0
    assert [d["source"] for d in read_documents(ws)] == [
        str(src / "blog" / MARKDOWN), str(src / "videos" / "2023" / YOUTUBE_VTT)]

    report = run_stage(ws, "ingest", {"include_hidden": True}, log=lambda _: None).report
    assert sorted(Path(d["source"]).name for d in read_documents(ws)) == [
        MARKDOWN, "unfinished.md", YOUTUBE_VTT]
    # the AppleDouble "._" file is binary: read now, and skipped; .DS_Store has no supported extension
    reasons = {Path(s["file"]).name: s["reason"] for s in report["skipped_files"]}
    assert reasons[f"._{MARKDOWN}"] == "binary file (NUL bytes), not text"
    assert reasons[".DS_Store"].startswith("unsupported extension (none); supported: .vtt .srt")
    assert report["skipped"] == 2


def test_several_sources_files_and_folders_in_order(tmp_path):
    folder = tmp_path / "posts"
    folder.mkdir()
    shutil.copy(FORMATS / HTML, folder / HTML)
    ws = make_ws(tmp_path, FORMATS / SRT, folder, FORMATS / CHAT)
    run_stage(ws, "ingest", log=lambda _: None)
    assert [Path(d["source"]).name for d in read_documents(ws)] == [SRT, HTML, CHAT]


# ---------------------------------------------------------------- bad input


def _write_binary(folder: Path) -> Path:
    path = folder / "recording.txt"
    path.write_bytes(BINARY_BYTES)
    return path


BAD_KINDS = {
    "binary": ("recording.txt", "binary file (NUL bytes), not text"),
    "empty": ("empty.txt", "empty file"),
    "mis-encoded": ("notes-latin1.txt", "not valid UTF-8 (byte 0xe9 at position 18); re-save it as UTF-8 "
                                        "or set ingest.encoding_fallback (e.g. cp1252)"),
    "malformed vtt": ("broken-timing.vtt", "broken cue timing '00:00:03.200 --> 00:00:06' near line 8"),
    "srt without timing": ("no-timing.srt", "subtitle block 1 has no 'start --> end' timing line; "
                                            "is it really .srt?"),
    "json wrong shape": ("wrong-shape.json", "JSON of the wrong shape: expected a youtube-transcript-api list "
                                             "of {text, start, duration} or a Whisper object with 'segments'"),
    "invalid json": ("invalid.json", "invalid JSON at line 3 column 1: Expecting ',' delimiter"),
    "broken pdf": ("cut-list.pdf", "not a readable PDF, damaged or cut short (startxref not found); "
                                   "re-save or re-export it as PDF"),
}


def _bad_path(kind: str, tmp_path: Path) -> Path:
    name = BAD_KINDS[kind][0]
    return _write_binary(tmp_path) if kind == "binary" else BAD / name


def test_bad_fixture_folder_holds_one_file_per_kind():
    committed = {name for kind, (name, _) in BAD_KINDS.items() if kind != "binary"}
    assert {p.name for p in BAD.iterdir()} == committed


@pytest.mark.parametrize("kind", list(BAD_KINDS))
def test_bad_file_is_skipped_with_reason_and_the_run_goes_on(kind, tmp_path):
    bad = _bad_path(kind, tmp_path)
    ws = make_ws(tmp_path, bad, FORMATS / SRT)
    log: list[str] = []
    report = run_stage(ws, "ingest", log=log.append).report
    assert report["documents"] == 1
    assert report["skipped"] == 1
    assert report["skipped_files"] == [{"file": str(bad), "reason": BAD_KINDS[kind][1]}]
    assert [Path(d["source"]).name for d in read_documents(ws)] == [SRT]
    if kind != "unsupported extension":  # files of other types are counted, not logged one by one
        assert f"  skipped {bad}: {BAD_KINDS[kind][1]}" in log
    assert any(line.endswith("1 skipped") for line in log)


@pytest.mark.parametrize("kind", list(BAD_KINDS))
def test_strict_raises_and_leaves_no_stage_output(kind, tmp_path):
    bad = _bad_path(kind, tmp_path)
    ws = make_ws(tmp_path, FORMATS / SRT, bad)
    with pytest.raises(UserError) as info:
        run_stage(ws, "ingest", strict=True, log=lambda _: None)
    assert str(info.value) == (f"ingest: --strict and 1 input file(s) were skipped, first {bad}: "
                               f"{BAD_KINDS[kind][1]}")
    assert not ws.stage_dir("ingest").exists()
    assert list((ws.root / "data").iterdir()) == []  # no half-built temporary folder either


def test_strict_pipeline_stops_at_ingest_and_writes_nothing(tmp_path):
    ws = make_ws(tmp_path, FORMATS, BAD / "no-timing.srt")
    with pytest.raises(UserError, match=r"no-timing\.srt: subtitle block 1 has no 'start --> end' timing line"):
        run_pipeline(ws, until="clean", strict=True, log=lambda _: None)
    assert not ws.stage_dir("ingest").exists() and not ws.stage_dir("clean").exists()
    assert list((ws.root / "data").iterdir()) == []


def test_whole_bad_folder_counts_every_kind(tmp_path):
    mixed = tmp_path / "mixed"
    shutil.copytree(BAD, mixed)
    _write_binary(mixed)
    shutil.copy(FORMATS / WHISPER_JSON, mixed / WHISPER_JSON)
    ws = make_ws(tmp_path, mixed)
    report = run_stage(ws, "ingest", log=lambda _: None).report
    assert report["documents"] == 1
    assert report["skipped"] == len(BAD_KINDS) == 8
    reasons = {Path(s["file"]).name: s["reason"] for s in report["skipped_files"]}
    assert reasons == {name: reason for name, reason in BAD_KINDS.values()}


def test_only_bad_files_is_a_user_error(tmp_path):
    ws = make_ws(tmp_path, BAD)
    with pytest.raises(UserError, match=r"no readable documents in .*bad \(7 skipped\)"):
        run_stage(ws, "ingest", log=lambda _: None)
    assert not ws.stage_dir("ingest").exists()


def test_strict_failure_keeps_the_previous_good_output(tmp_path):
    ws = make_ws(tmp_path, FORMATS / SRT, BAD / "empty.txt")
    run_stage(ws, "ingest", log=lambda _: None)
    folder = ws.stage_dir("ingest")
    before = {p.name: artifacts.sha256_file(p) for p in folder.iterdir()}
    with pytest.raises(UserError, match="empty.txt: empty file"):
        run_stage(ws, "ingest", strict=True, log=lambda _: None)
    assert {p.name: artifacts.sha256_file(p) for p in folder.iterdir()} == before
    assert [p.name for p in (ws.root / "data").iterdir()] == [folder.name]


def test_encoding_fallback_reads_latin1_notes(tmp_path):
    ws = make_ws(tmp_path, BAD / "notes-latin1.txt")
    report = run_stage(ws, "ingest", {"encoding_fallback": "cp1252"}, log=lambda _: None).report
    assert report["skipped"] == 0
    (doc,) = read_documents(ws)
    assert texts(doc) == ["Notes from the café meetup", "We talked about résumés and naïve pricing."]


def test_size_and_extension_settings(tmp_path):
    ws = make_ws(tmp_path, FORMATS)
    report = run_stage(ws, "ingest", {"extensions": [".srt", ".vtt"], "max_file_mb": 0.002},
                       log=lambda _: None).report
    # only the small .srt and the hand-made .vtt pass; the 2.3 kB YouTube .vtt is over 0.002 MB
    assert sorted(Path(d["source"]).name for d in read_documents(ws)) == [SRT, HANDMADE_VTT]
    reasons = {Path(s["file"]).name: s["reason"] for s in report["skipped_files"]}
    assert reasons[YOUTUBE_VTT] == "0 MB is over ingest.max_file_mb=0.002"
    assert reasons[MARKDOWN] == "unsupported extension .md; supported: .srt .vtt"
    assert report["skipped"] == 7


# ---------------------------------------------------------------- the command line


def test_cli_strict_exits_non_zero_with_one_line_naming_the_file(tmp_path, capsys):
    ws = make_ws(tmp_path, FORMATS / SRT, BAD / "broken-timing.vtt")
    code = main(["run", str(ws.root), "--until", "ingest", "--strict"])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.endswith("\n")
    assert err == (f"personatune: error: ingest: --strict and 1 input file(s) were skipped, first "
                   f"{BAD / 'broken-timing.vtt'}: broken cue timing '00:00:03.200 --> 00:00:06' near line 8\n")
    assert not ws.stage_dir("ingest").exists()


def test_cli_stage_command_strict(tmp_path, capsys):
    ws = make_ws(tmp_path, FORMATS / CHAT, BAD / "wrong-shape.json")
    assert main(["ingest", str(ws.root), "--strict"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 1
    assert str(BAD / "wrong-shape.json") in err[0] and "JSON of the wrong shape" in err[0]


def test_cli_without_strict_skips_and_succeeds(tmp_path, capsys):
    ws = make_ws(tmp_path, FORMATS / SRT, BAD / "invalid.json")
    assert main(["run", str(ws.root), "--until", "ingest"]) == 0
    captured = capsys.readouterr()
    assert captured.err == ""
    assert f"  skipped {BAD / 'invalid.json'}: invalid JSON at line 3 column 1" in captured.out
    assert [Path(d["source"]).name for d in read_documents(ws)] == [SRT]


def test_a_workspace_inside_its_own_sources_never_reads_what_it_wrote(tmp_path):
    """`cd transcripts && personatune init . --sources . && personatune run . && personatune run .`"""
    folder = tmp_path / "transcripts"
    shutil.copytree(Path(__file__).resolve().parents[2] / "examples" / "creator" / "blog", folder)
    init_workspace(folder, [str(folder)], name="Marta Kowalczyk")
    ws = Workspace.open(folder)
    first = {r.name: r for r in run_pipeline(ws, log=lambda _: None)}
    assert (folder / "data" / "07-dataset" / "messages" / "train.jsonl").exists()
    (folder / "persona_card.md").write_text("# Marta\n\nA card the user edited.\n")
    second = {r.name: r for r in run_pipeline(ws, log=lambda _: None)}
    # nothing it wrote became a source; only the rows trained with the card are rendered again
    assert [name for name, r in second.items() if not r.skipped] == ["dataset"]
    assert all(r.skipped for r in run_pipeline(ws, log=lambda _: None))
    documents = artifacts.read_jsonl(ws.stage_dir("ingest") / "documents.jsonl")
    assert len(documents) == first["ingest"].report["documents"] == 6
    assert all(Path(d["source"]).parent == folder for d in documents)
    (folder / "notes").mkdir()
    (folder / "notes" / "about-me.md").write_text("I was born in Gdansk and I build furniture in Duluth.\n")
    assert run_stage(ws, "ingest", log=lambda _: None).report["documents"] == 7  # the user's own files still count


def test_a_symlinked_folder_is_named_and_counted_and_strict_fails_on_it(tmp_path):
    sources, elsewhere = tmp_path / "sources", tmp_path / "elsewhere"
    sources.mkdir()
    elsewhere.mkdir()
    (sources / "post.md").write_text("I build furniture in Duluth, and I teach a class on Tuesdays.\n")
    (elsewhere / "more.md").write_text("Another post about sharpening chisels on diamond plates.\n")
    (sources / "linked").symlink_to(elsewhere, target_is_directory=True)
    (sources / "photo.png").write_bytes(b"\x89PNG")
    files, skipped = ingest.discover([sources], ingest.Settings())
    assert [p.name for p in files] == ["post.md"]
    reasons = {Path(s["file"]).name: s["reason"] for s in skipped}
    assert "symlinked folder is not followed" in reasons["linked"] and "unsupported" in reasons["photo.png"]
    init_workspace(tmp_path / "ws", [str(sources)], name="Marta")
    ws = Workspace.open(tmp_path / "ws")
    log: list[str] = []
    assert run_stage(ws, "ingest", log=log.append).report["skipped"] == 2
    assert any("skipped" in line and "linked" in line for line in log)
    with pytest.raises(UserError, match="--strict and 2 input file"):
        run_stage(ws, "ingest", force=True, strict=True, log=lambda _: None)


def test_an_archive_moved_elsewhere_keeps_its_document_ids(tmp_path):
    """Ids hash the path inside the source folder: a moved archive keeps its segments, served draw and order."""
    ids = []
    for where in ("old/place", "new"):
        archive = tmp_path / where / "archive"
        (archive / "posts").mkdir(parents=True)
        shutil.copy(FORMATS / MARKDOWN, archive / "posts" / MARKDOWN)
        shutil.copy(FORMATS / SRT, archive / SRT)
        ws = make_ws(tmp_path / where, archive)
        run_stage(ws, "ingest")
        ids.append(sorted((Path(d["source"]).name, d["doc_id"]) for d in read_documents(ws)))
    assert ids[0] == ids[1] and len({i for _, i in ids[0]}) == 2


def test_two_sources_holding_the_same_name_get_different_ids(tmp_path):
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        shutil.copy(FORMATS / TXT, tmp_path / name / "notes.txt")
    ws = make_ws(tmp_path, tmp_path / "a", tmp_path / "b")
    run_stage(ws, "ingest")
    assert len({d["doc_id"] for d in read_documents(ws)}) == 2
