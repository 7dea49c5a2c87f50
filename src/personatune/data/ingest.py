"""ingest: read transcripts, posts and notes from the sources into documents of provenance-carrying pieces.

Formats: .vtt, .srt, .txt, .md (front matter removed), .html/.htm, youtube-transcript-api .json,
Whisper .json, chat .jsonl, and documents: .docx, .odt, .epub, .pdf (its text layer), read from their
bytes one piece per paragraph. Folders are read recursively. A file that cannot be used is skipped
with one line naming it and the reason, and counted; the run goes on (unless --strict).
"""

from __future__ import annotations

import os
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from personatune import artifacts
from personatune.data import speakers
from personatune.data.documents import parse_docx, parse_epub, parse_odt, parse_pdf
from personatune.data.formats import (
    decode,
    parse_chat_jsonl,
    parse_html,
    parse_markdown,
    parse_srt,
    parse_transcript_json,
    parse_txt,
    parse_vtt,
)
from personatune.data.stage import StageContext
from personatune.errors import SkippedInput, UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting

VERSION = 3  # 2: speakers of tagged transcripts; 3: ids from the path inside its source
TRANSCRIPTS = ("vtt", "srt", "txt", "whisper", "youtube")  # where "NAME:" turn tags are read
SUPPORTED = (".vtt", ".srt", ".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl",
             ".docx", ".odt", ".epub", ".pdf")
# binary documents: parsed from the file's bytes, never decoded as text; suffix -> (format, parser)
DOCUMENTS = {".docx": ("docx", parse_docx), ".odt": ("odt", parse_odt), ".epub": ("epub", parse_epub),
             ".pdf": ("pdf", parse_pdf)}


@dataclass
class Settings(BaseSettings):
    extensions: list[str] = setting(default_factory=lambda: list(SUPPORTED),
                                    help="file extensions to read; others are skipped and counted")
    max_file_mb: float = setting(50.0, help="larger files are skipped as unlikely to be transcripts")
    encoding_fallback: str = setting("", help="codec to try when a file is not UTF-8 (e.g. cp1252); "
                                               "empty = skip such files")
    chat_roles: list[str] = setting(default_factory=lambda: ["assistant"],
                                    help="in chat .jsonl, the roles whose messages are the person's words")
    include_hidden: bool = setting(False, help="also read dot-files and dot-folders")
    speakers: list[str] = setting(default_factory=list,
                                  help="the person's own names in speaker-tagged transcripts (WebVTT <v Name>, "
                                       "'NAME:' turns, diarized Whisper JSON); empty = the workspace's name. "
                                       "Other voices are never persona and never answers")

    def problems(self) -> list[str]:
        out = []
        if self.max_file_mb <= 0:
            out.append("max_file_mb must be > 0")
        bad = [e for e in self.extensions if not e.startswith(".")]
        if bad:
            out.append(f"extensions must start with a dot: {bad}")
        return out


# ---------------------------------------------------------------- files and folders


def parse_file(path: Path, settings: Settings) -> dict:
    """One source file to a document: {source, format, title, pieces}. Raises SkippedInput."""
    size = path.stat().st_size
    if size > settings.max_file_mb * 1e6:
        raise SkippedInput(f"{size / 1e6:.0f} MB is over ingest.max_file_mb={settings.max_file_mb:g}")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SkippedInput(f"cannot read: {exc.strerror}") from None
    suffix = path.suffix.lower()
    title = None
    # binary documents are parsed from the bytes: decoding them as text would reject them
    text = "" if suffix in DOCUMENTS else decode(data, path, settings.encoding_fallback)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    if suffix in DOCUMENTS:
        fmt, parse_document = DOCUMENTS[suffix]
        pieces, title = parse_document(data)
    elif suffix == ".vtt":
        pieces, fmt = parse_vtt(text), "vtt"
    elif suffix == ".srt":
        pieces, fmt = parse_srt(text), "srt"
    elif suffix == ".json":
        pieces, fmt = parse_transcript_json(text)
    elif suffix == ".jsonl":
        pieces, fmt = parse_chat_jsonl(text, settings.chat_roles), "chat"
    elif suffix in (".md", ".markdown"):
        (pieces, title), fmt = parse_markdown(text), "markdown"
    elif suffix in (".html", ".htm"):
        (pieces, title), fmt = parse_html(text), "html"
    else:
        pieces, fmt = parse_txt(text), "txt"
    if not pieces:
        raise SkippedInput("no text after parsing")
    return {"format": fmt, "title": title or title_from_name(path), "pieces": pieces,
            "sha256": artifacts.sha256_bytes(data)}


def title_from_name(path: Path) -> str:
    """'My Video Title [dQw4w9WgXcQ].en.vtt' -> 'My Video Title'; 'v03-hand-planes.txt' -> 'Hand planes'."""
    stem = path.name[: -len(path.suffix)] if path.suffix else path.name
    stem = re.sub(r"\.[a-z]{2,3}(?:-[A-Za-z]{2,4})?$", "", stem)  # yt-dlp language suffix
    stem = re.sub(r"\s*\[[\w-]{6,}\]$", "", stem).strip()  # yt-dlp video id
    if " " not in stem:
        stem = re.sub(r"^(?:[\d_.-]+|v\d+-)", "", stem)  # date or episode prefixes
        stem = re.sub(r"[-_]+", " ", stem).strip()
    return (stem[:1].upper() + stem[1:]) if stem else path.stem


def discover(sources: list[Path], settings: Settings, ws=None) -> tuple[list[Path], list[dict]]:
    """The files to read, and the ones skipped with why. A workspace inside its own sources never reads
    what it wrote (its data/, runs/, the card...): the second run would ingest the first's training files."""
    files: list[Path] = []
    skipped: list[dict] = []
    for source in sources:
        if not source.exists():
            raise UserError(f"source {source} (from persona.yaml `sources`) does not exist; fix the path")
        candidates = [source] if source.is_file() else _walk(source, skipped)
        for path in candidates:
            rel_parts = path.relative_to(source).parts if source.is_dir() else ()
            if not settings.include_hidden and any(part.startswith(".") for part in rel_parts):
                continue
            if ws is not None and ws.owns(path):
                continue
            if path.suffix.lower() not in settings.extensions:
                skipped.append({"file": str(path), "reason": f"unsupported extension {path.suffix or '(none)'}; "
                                f"supported: {' '.join(settings.extensions)}"})
                continue
            files.append(path)
    return files, skipped


def _walk(folder: Path, skipped: list[dict]) -> list[Path]:
    """Every file under folder, sorted; a symlinked or unreadable sub-folder is named in `skipped`, not lost."""
    files: list[Path] = []

    def unreadable(error: OSError) -> None:
        skipped.append({"file": str(error.filename), "reason": f"cannot read this folder ({error.strerror}); "
                        "fix its permissions"})

    for root, dirs, names in os.walk(folder, onerror=unreadable):
        base = Path(root)
        for name in list(dirs):
            if (base / name).is_symlink() and not name.startswith("."):
                skipped.append({"file": str(base / name), "reason": "a symlinked folder is not followed; add its "
                                "target to `sources` to read it"})
        files.extend(base / name for name in names if (base / name).is_file())
    return sorted(files)


def doc_ids(files: list[Path], sources: list[Path]) -> dict[Path, str]:
    """Each file's document id: a hash of its path inside its source folder (a source file: its name), so an
    archive moved or copied elsewhere keeps its segment ids, and with them its served draw and row order. Two
    sources holding the same name fall back to the full path."""
    def inside(path: Path) -> str:
        for source in sources:
            if source.is_file() and path == source:
                return path.name
            if source.is_dir() and path.is_relative_to(source):
                return path.relative_to(source).as_posix()
        return str(path)

    names = {path: inside(path) for path in files}
    taken = Counter(names.values())
    return {path: artifacts.sha256_text(name if taken[name] == 1 else str(path))[:12] for path, name in names.items()}


def source_fingerprint(sources: list[Path], settings: Settings, ws=None) -> str:
    files, skipped = discover(sources, settings, ws)
    listing = [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    return artifacts.sha256_json({"files": listing, "skipped": [s["file"] for s in skipped]})


def inputs(ws, settings: Settings) -> dict:
    if not ws.sources:
        raise UserError(f"{ws.config_path}: `sources` is empty; list the files or folders to read")
    return {"sources": source_fingerprint(ws.sources, settings, ws), "person": ws.name}


def run(ctx: StageContext, settings: Settings) -> dict:
    files, skipped = discover(ctx.ws.sources, settings, ctx.ws)
    documents, tagged = [], {}
    formats: dict[str, int] = {}
    ids = doc_ids(files, ctx.ws.sources)
    for path in files:
        try:
            doc = parse_file(path, settings)
        except SkippedInput as exc:
            skipped.append({"file": str(path), "reason": str(exc)})
            ctx.log(f"  skipped {path}: {exc}")
            continue
        doc_id = ids[path]
        voices = speakers.attribute(doc, settings.speakers, ctx.ws.name, doc["format"] in TRANSCRIPTS)
        if voices:
            tagged[str(path)] = voices
            if not voices["person"]:
                ctx.log(f"  {path.name}: speakers {', '.join(voices['speakers'])}, none of them "
                        f"{' / '.join(settings.speakers) or ctx.ws.name}; all of it counts as other voices "
                        "(name the person's speaker in persona.yaml `ingest: {speakers: [...]}`)")
        documents.append({"doc_id": doc_id, "source": str(path), **doc})
        formats[doc["format"]] = formats.get(doc["format"], 0) + 1
    if not documents:
        raise UserError(f"no readable documents in {', '.join(map(str, ctx.ws.sources))} "
                        f"({len(skipped)} skipped); supported: {' '.join(settings.extensions)}")
    artifacts.write_jsonl(ctx.out / "documents.jsonl", documents)
    ctx.log(f"  {len(documents)} documents ({', '.join(f'{k}: {v}' for k, v in sorted(formats.items()))}), "
            f"{len(skipped)} skipped")
    for item in skipped[:5]:
        ctx.log(f"  skipped {item['file']}: {item['reason']}")
    if len(skipped) > 5:
        ctx.log(f"  ... and {len(skipped) - 5} more (report.json `skipped_files`)")
    if tagged:
        other = sum(p.get("voice") == "other" for d in documents for p in d["pieces"])
        ctx.log(f"  {len(tagged)} speaker-tagged documents; {other} pieces in other voices (never persona or answers)")
    return {"documents": len(documents), "pieces": sum(len(d["pieces"]) for d in documents),
            "formats": formats, "skipped": len(skipped), "skipped_files": skipped, "speakers": tagged}
