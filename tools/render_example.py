"""Render the bundled example persona from its authored scripts into the formats people really have.

    python tools/render_example.py

Reads examples/scripts/*.txt (one spoken script per video), inserts the persona asides from
asides.yaml, and writes examples/creator/videos/ as YouTube auto-caption .vtt (rolling duplicated
lines, inline word timing tags), hand-made .srt, lower-case unpunctuated .txt, and
youtube-transcript-api .json. Writes examples/gold_labels.jsonl (the passages meant as persona) and
examples/probes.yaml (probes with rendered source names). Deterministic: same scripts, same files.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "examples" / "scripts"
VIDEOS = ROOT / "examples" / "creator" / "videos"
EXT = {"vtt": ".en.vtt", "srt": ".en.srt", "txt": ".txt", "json": ".json"}
MARK = re.compile(r"^\[persona:(\w+)\]\s*")
WORDS_PER_SECOND = 2.6


def read_script(path: Path) -> tuple[str, str, list[tuple[str | None, str]]]:
    head, body = path.read_text(encoding="utf-8").split("\n---\n", 1)
    meta = dict(line.split(": ", 1) for line in head.strip().splitlines())
    paragraphs = []
    for para in re.split(r"\n\s*\n", body.strip()):
        text = " ".join(para.split())
        match = MARK.match(text)
        paragraphs.append((match.group(1), text[match.end():]) if match else (None, text))
    return meta["title"], meta["format"], paragraphs


def video_id(slug: str) -> str:
    return hashlib.sha256(slug.encode()).hexdigest()[:11]


def ts(seconds: float, sep: str = ".") -> str:
    ms = int(round(seconds * 1000))
    h, ms = divmod(ms, 3600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}{sep}{ms:03d}"


def timed_words(paragraphs: list[str]) -> list[tuple[str, float]]:
    out, t = [], 1.0
    for para in paragraphs:
        for word in para.split():
            out.append((word, t))
            t += 1 / WORDS_PER_SECOND + (0.35 if word.endswith((".", "?", "!")) else 0.0)
        t += 0.8
    return out


def caption_text(word: str) -> str:
    """Auto-captions: lower case, no punctuation except apostrophes."""
    return re.sub(r"[^\w'\u00C0-\u017F-]", "", word.lower()).strip("-")


def lines_of(words: list[tuple[str, float]], size: int) -> list[list[tuple[str, float]]]:
    return [words[i:i + size] for i in range(0, len(words), size)]


def rolling_vtt(words: list[tuple[str, float]], preamble: list[str] | None = None) -> str:
    """YouTube auto-caption WebVTT from (caption word, start second) pairs.

    Each cue repeats the previous line above the new one, whose words carry inline timing tags;
    a 10 ms cue then shows the finished line alone. bench/synth_archive.py uses this too.
    """
    lines = lines_of(words, 7)
    out = ["WEBVTT", "Kind: captions", "Language: en", ""] + (preamble or [])
    previous = " "
    for number, line in enumerate(lines):
        start = line[0][1]
        end = lines[number + 1][0][1] if number + 1 < len(lines) else line[-1][1] + 0.6
        tagged = line[0][0] + "".join(f"<{ts(t)}><c> {w}</c>" for w, t in line[1:])
        out += [f"{ts(start)} --> {ts(end - 0.01)} align:start position:0%", previous, tagged, ""]
        plain = " ".join(w for w, _ in line)
        out += [f"{ts(end - 0.01)} --> {ts(end)} align:start position:0%", plain, " ", ""]
        previous = plain
    return "\n".join(out)


def render_vtt(paragraphs: list[str]) -> str:
    words = [(caption_text(w), t) for w, t in timed_words(paragraphs)]
    return rolling_vtt([(w, t) for w, t in words if w])


def render_srt(paragraphs: list[str]) -> str:
    words = timed_words(paragraphs)
    out = []
    for number, chunk in enumerate(lines_of(words, 10), 1):
        start, end = chunk[0][1], chunk[-1][1] + 0.4
        text = " ".join(w for w, _ in chunk)
        half = len(chunk) // 2
        two = " ".join(w for w, _ in chunk[:half]) + "\n" + " ".join(w for w, _ in chunk[half:]) if len(text) > 42 else text
        out += [str(number), f"{ts(start, ',')} --> {ts(end, ',')}", two, ""]
    return "\n".join(out)


def render_txt(paragraphs: list[str]) -> str:
    words = [caption_text(w) for w, _ in timed_words(paragraphs)]
    words = [w for w in words if w]
    return "\n".join(" ".join(words[i:i + 12]) for i in range(0, len(words), 12)) + "\n"


def render_json(paragraphs: list[str]) -> str:
    rows = [{"text": "[Music]", "start": 0.0, "duration": 1.0}]
    for chunk in lines_of(timed_words(paragraphs), 8):
        start = chunk[0][1]
        rows.append({"text": " ".join(w for w, _ in chunk), "start": round(start, 3),
                     "duration": round(chunk[-1][1] + 0.4 - start, 3)})
    return json.dumps(rows, ensure_ascii=False, indent=1) + "\n"


RENDER = {"vtt": render_vtt, "srt": render_srt, "txt": render_txt, "json": render_json}
FILLERS = re.compile(r"\b(?:um|uh)\b,?\s*", re.I)


def main() -> None:
    asides = yaml.safe_load((SCRIPTS / "asides.yaml").read_text(encoding="utf-8"))
    VIDEOS.mkdir(parents=True, exist_ok=True)
    for old in VIDEOS.iterdir():
        old.unlink()
    gold, names = [], {}
    for path in sorted(SCRIPTS.glob("v*.txt")):
        title, fmt, paragraphs = read_script(path)
        aside = asides.get(path.name)
        if aside:
            paragraphs.insert(aside["after_paragraph"], (aside["subtype"], " ".join(aside["text"].split())))
        slug = path.stem
        name = f"{title} [{video_id(slug)}]{EXT[fmt]}"
        names[slug.split("-")[0]] = name
        (VIDEOS / name).write_text(RENDER[fmt]([p for _, p in paragraphs]), encoding="utf-8")
        for subtype, text in paragraphs:
            if subtype:
                gold.append({"source": f"videos/{name}", "subtype": subtype,
                             "text": FILLERS.sub("", text)})
    with open(ROOT / "examples" / "gold_labels.jsonl", "w", encoding="utf-8") as handle:
        for row in gold:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    probes = yaml.safe_load((SCRIPTS / "probes.src.yaml").read_text(encoding="utf-8"))
    for section in ("identity", "opinions", "does_not_have"):
        for item in probes[section]:
            item["source"] = f"videos/{names[item['source']]}"
    header = ("# Probes for the example persona (generated by tools/render_example.py from\n"
              "# examples/scripts/probes.src.yaml; edit that file and re-render).\n")
    (ROOT / "examples" / "probes.yaml").write_text(
        header + yaml.safe_dump(probes, sort_keys=False, allow_unicode=True, width=120), encoding="utf-8")
    print(f"rendered {len(names)} videos, {len(gold)} gold persona passages")


if __name__ == "__main__":
    main()
