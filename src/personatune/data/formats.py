"""The source formats ingest reads: bytes to text, and text to provenance-carrying pieces.

Each parser takes a file's decoded text and returns its pieces ({text, start, end, offset}), or
raises SkippedInput with the reason the file cannot be used.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import yaml

from personatune.errors import SkippedInput


def piece(text: str, *, start: float | None = None, end: float | None = None,
          offset: int | None = None) -> dict:
    return {"text": text, "start": start, "end": end, "offset": offset}


# ---------------------------------------------------------------- decoding


def _decode_bom(data: bytes, codec: str) -> str:
    try:
        return data.decode(codec)
    except UnicodeDecodeError:
        raise SkippedInput(f"starts with a {codec.upper()} byte-order mark but does not decode as {codec.upper()}") from None


def decode(data: bytes, path: Path, fallback: str = "") -> str:
    if not data.strip():
        raise SkippedInput("empty file")
    if data.startswith((b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff")):
        return _decode_bom(data, "utf-32")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return _decode_bom(data, "utf-16")
    if b"\x00" in data[:8192]:
        raise SkippedInput("binary file (NUL bytes), not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if fallback:
            try:
                return data.decode(fallback)
            except (UnicodeDecodeError, LookupError):
                pass
        raise SkippedInput(f"not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}); "
                           "re-save it as UTF-8 or set ingest.encoding_fallback (e.g. cp1252)") from None


# ---------------------------------------------------------------- timed captions

_VTT_TIME = re.compile(r"^\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})\s*-->\s*((?:\d+:)?\d{1,2}:\d{2}[.,]\d{1,3})(\s.*)?$")


def parse_timestamp(value: str) -> float:
    parts = value.replace(",", ".").split(":")
    seconds = float(parts[-1])
    minutes = int(parts[-2]) if len(parts) >= 2 else 0
    hours = int(parts[-3]) if len(parts) >= 3 else 0
    return hours * 3600 + minutes * 60 + seconds


def parse_vtt(text: str) -> list[dict]:
    lines = text.splitlines()
    if not lines or not lines[0].lstrip("\ufeff").startswith("WEBVTT"):
        raise SkippedInput("not a WebVTT file (first line must be WEBVTT)")
    pieces: list[dict] = []

    def separator(k: int) -> bool:
        # YouTube cues contain whitespace-only lines (" ") as the empty upper row; only a truly
        # empty line, or a blank line right before a timing line, ends a cue.
        return lines[k] == "" or (not lines[k].strip() and k + 1 < len(lines) and "-->" in lines[k + 1])

    i = 1
    while i < len(lines) and lines[i].strip() and "-->" not in lines[i]:
        i += 1  # header block: "Kind: captions", "Language: en", ...
    while i < len(lines):
        if separator(i) or not lines[i].strip():
            i += 1
            continue
        block = []
        while i < len(lines) and not separator(i):
            block.append(lines[i].rstrip())
            i += 1
        head = block[0]
        if head.startswith(("NOTE", "STYLE", "REGION")):
            continue
        timing_at = next((k for k, b in enumerate(block[:2]) if "-->" in b), None)
        if timing_at is None:
            raise SkippedInput(f"broken cue near line {i - len(block) + 1}: no 'start --> end' timing line")
        match = _VTT_TIME.match(block[timing_at])
        if not match:
            raise SkippedInput(f"broken cue timing {block[timing_at].strip()!r} near line {i - len(block) + 1}")
        body = "\n".join(block[timing_at + 1:]).strip()
        start, end = parse_timestamp(match.group(1)), parse_timestamp(match.group(2))
        for speaker, said in _voice_spans(body):
            pieces.append({**piece(said, start=start, end=end), **({"speaker": speaker} if speaker else {})})
    if not pieces:
        raise SkippedInput("no caption cues with text")
    return pieces


_VOICE = re.compile(r"<v(?:\.[\w.-]+)*\s+([^>]+)>", re.I)


def _voice_spans(body: str) -> list[tuple[str | None, str]]:
    """A cue's text split by WebVTT voice tags: `<v Lex Fridman>Hi</v> <v Guest>Hello` -> two spans."""
    spans, speaker, last = [], None, 0
    for match in _VOICE.finditer(body):
        spans.append((speaker, body[last:match.start()]))
        speaker, last = match.group(1).strip(), match.end()
    spans.append((speaker, body[last:]))
    out = [(who, re.sub(r"</v>", "", said, flags=re.I).strip()) for who, said in spans]
    return [(who, said) for who, said in out if said]


def parse_srt(text: str) -> list[dict]:
    blocks = re.split(r"\n\s*\n", text.replace("\r\n", "\n").strip())
    pieces: list[dict] = []
    for number, block in enumerate(blocks, 1):
        lines = [ln for ln in block.splitlines() if ln.strip()]
        timing_at = next((k for k, ln in enumerate(lines[:3]) if "-->" in ln), None)
        if timing_at is None:
            raise SkippedInput(f"subtitle block {number} has no 'start --> end' timing line; is it really .srt?")
        match = _VTT_TIME.match(lines[timing_at])
        if not match:
            raise SkippedInput(f"subtitle block {number}: unreadable timing {lines[timing_at].strip()!r}")
        body = "\n".join(lines[timing_at + 1:]).strip()
        if body:
            pieces.append(piece(body, start=parse_timestamp(match.group(1)), end=parse_timestamp(match.group(2))))
    if not pieces:
        raise SkippedInput("no subtitle text")
    return pieces


def parse_transcript_json(text: str) -> tuple[list[dict], str]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SkippedInput(f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    if isinstance(data, dict) and isinstance(data.get("segments"), list):
        rows, kind = data["segments"], "whisper"
    elif isinstance(data, dict) and isinstance(data.get("transcript"), list):
        rows, kind = data["transcript"], "youtube"
    elif isinstance(data, list):
        rows, kind = data, "youtube"
    else:
        raise SkippedInput("JSON of the wrong shape: expected a youtube-transcript-api list of "
                           "{text, start, duration} or a Whisper object with 'segments'")
    pieces = []
    for n, row in enumerate(rows):
        if not isinstance(row, dict) or not isinstance(row.get("text"), str) or "start" not in row:
            raise SkippedInput(f"JSON entry {n} is not {{text, start, ...}}; expected youtube-transcript-api "
                               "or Whisper segments")
        try:
            start = float(row["start"])
            end = float(row["end"]) if "end" in row else start + float(row.get("duration", 0.0))
        except (TypeError, ValueError):
            raise SkippedInput(f"JSON entry {n}: start/end/duration are not numbers") from None
        if row["text"].strip():
            speaker = row.get("speaker")  # diarized Whisper (WhisperX): "SPEAKER_01"
            pieces.append({**piece(row["text"], start=start, end=end),
                           **({"speaker": str(speaker)} if isinstance(speaker, (str, int)) and str(speaker) else {})})
    if not pieces:
        raise SkippedInput("transcript JSON has no text")
    return pieces, kind


# ---------------------------------------------------------------- text documents


def _paragraph_pieces(text: str, base: int = 0) -> list[dict]:
    pieces = []
    for match in re.finditer(r"\S(?:.*?\S)?(?=\n\s*\n|\s*\Z)", text, flags=re.S):
        pieces.append(piece(match.group(0), offset=base + match.start()))
    return pieces


def parse_txt(text: str) -> list[dict]:
    # Auto-captions come one short line each; prose notes come in paragraphs. Lines keep both.
    pieces = []
    offset = 0
    for line in text.splitlines(keepends=True):
        if line.strip():
            pieces.append(piece(line.strip(), offset=offset + (len(line) - len(line.lstrip()))))
        offset += len(line)
    return pieces


_FRONT_MATTER = re.compile(r"\A---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*\n", re.S)


def parse_markdown(text: str) -> tuple[list[dict], str | None]:
    title = None
    body_start = 0
    match = _FRONT_MATTER.match(text)
    if match:
        try:
            meta = yaml.safe_load(match.group(1)) or {}
        except yaml.YAMLError:
            raise SkippedInput("front matter between the --- lines is not valid YAML") from None
        if isinstance(meta, dict) and meta.get("title"):
            title = str(meta["title"])
        body_start = match.end()
    pieces = _paragraph_pieces(text[body_start:], base=body_start)
    if title is None:
        heading = re.search(r"^#\s+(.+)$", text[body_start:], flags=re.M)
        title = heading.group(1).strip() if heading else None
    return pieces, title


class _HTMLText(HTMLParser):
    BLOCKS = {"p", "li", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "td", "th", "pre", "dd", "dt",
              "figcaption", "div", "section", "article", "br"}
    SKIP = {"script", "style", "nav", "header", "footer", "noscript", "svg", "head"}

    def __init__(self, line_offsets: list[int]):
        super().__init__(convert_charrefs=True)
        self.line_offsets = line_offsets
        self.pieces: list[dict] = []
        self.buffer: list[str] = []
        self.buffer_offset: int | None = None
        self.skip_depth = 0
        self.title: str | None = None
        self._in_title = False
        self._svg_depth = 0  # an inline <svg> icon's <title> is not the page title

    def _offset(self) -> int:
        line, col = self.getpos()
        return self.line_offsets[line - 1] + col

    def _flush(self) -> None:
        text = " ".join("".join(self.buffer).split())
        if text:
            self.pieces.append(piece(text, offset=self.buffer_offset))
        self.buffer, self.buffer_offset = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "svg":
            self._svg_depth += 1
        if tag == "title" and self.title is None and not self._svg_depth:
            self._in_title = True
        if tag in self.SKIP:
            self.skip_depth += 1
        elif tag in self.BLOCKS:
            self._flush()

    def handle_endtag(self, tag):
        if tag == "svg":
            self._svg_depth = max(0, self._svg_depth - 1)
        if tag == "title":
            self._in_title = False
        if tag in self.SKIP:
            self.skip_depth = max(0, self.skip_depth - 1)
        elif tag in self.BLOCKS:
            self._flush()

    def handle_data(self, data):
        if self._in_title:
            self.title = (self.title or "") + data.strip()
            return
        if self.skip_depth:
            return
        if self.buffer_offset is None and data.strip():
            # point at the first character of text, not at the newline/indent before it
            self.buffer_offset = self._offset() + len(data) - len(data.lstrip(" \t\n\r\f"))
        self.buffer.append(data)


def parse_html(text: str) -> tuple[list[dict], str | None]:
    offsets = [0]
    for line in text.splitlines(keepends=True):
        offsets.append(offsets[-1] + len(line))
    parser = _HTMLText(offsets)
    parser.feed(text)
    parser.close()
    parser._flush()
    if not parser.pieces:
        raise SkippedInput("HTML page has no readable text")
    return parser.pieces, parser.title


def parse_chat_jsonl(text: str, roles: list[str]) -> list[dict]:
    pieces = []
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), 1):
        stripped = line.strip()
        if stripped:
            try:
                row = json.loads(stripped)
            except json.JSONDecodeError as exc:
                raise SkippedInput(f"line {number} is not JSON ({exc.msg})") from None
            messages = row.get("messages") if isinstance(row, dict) else None
            if messages is None and isinstance(row, dict) and "content" in row:
                messages = [row]
            if not isinstance(messages, list):
                raise SkippedInput(f"line {number}: expected {{\"messages\": [...]}} or {{\"role\", \"content\"}}")
            for message in messages:
                if (isinstance(message, dict) and message.get("role") in roles
                        and isinstance(message.get("content"), str) and message["content"].strip()):
                    pieces.append(piece(message["content"].strip(), offset=offset))
        offset += len(line)
    if not pieces:
        raise SkippedInput(f"no messages from roles {roles} (set ingest.chat_roles)")
    return pieces
