"""The document formats ingest reads from their raw bytes: .docx, .odt, .epub and .pdf (its text layer).

Each parser takes a file's bytes and returns (pieces, title): one piece per paragraph, its offset the
paragraph's position in the document's text with the paragraphs joined by blank lines ("\\n\\n"), and
the title from the document's metadata, or None. PDF pieces also carry their 1-based "page". A file that
cannot be used raises SkippedInput with one line saying what is wrong and how to fix it; no zipfile,
XML, HTML or pypdf exception gets out, and no archive member over 200 MB is unpacked (a zip bomb).
"""

from __future__ import annotations

import io
import logging
import posixpath
import re
import zipfile
from html.parser import HTMLParser
from urllib.parse import unquote
from xml.etree import ElementTree as ET

from personatune.data.formats import piece
from personatune.errors import SkippedInput

MAX_MEMBER_BYTES = 200_000_000
DC = "{http://purl.org/dc/elements/1.1/}"
W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
OPF = "{http://www.idpf.org/2007/opf}"


def _pieces(paragraphs: list[str], pages: list[int] | None = None) -> list[dict]:
    """Pieces of the paragraphs, offsets into "\\n\\n".join(paragraphs); "no text found" if none."""
    if not paragraphs:
        raise SkippedInput("no text found")
    pieces, offset = [], 0
    for n, text in enumerate(paragraphs):
        pieces.append({**piece(text, offset=offset), **({"page": pages[n]} if pages else {})})
        offset += len(text) + 2
    return pieces


def _words(element: ET.Element | None) -> str:
    return " ".join("".join(element.itertext()).split()) if element is not None else ""


def _reason(exc: Exception) -> str:
    """An exception's message as a short phrase for a one-line reason."""
    return " ".join(str(exc).split())[:120] or type(exc).__name__


# ---------------------------------------------------------------- zip containers


class _Zip:
    """A zip-based document: members read with a size limit, every failure one SkippedInput line."""

    def __init__(self, data: bytes, kind: str, fix: str):
        self.kind, self.fix = kind, fix
        if not data.strip():
            raise SkippedInput("empty file")
        try:  # damaged archives raise many kinds of exception
            self.archive = zipfile.ZipFile(io.BytesIO(data))
        except Exception:
            raise SkippedInput(f"not a valid .{kind} (not a zip archive); {fix}") from None

    def broken(self, why: str) -> SkippedInput:
        return SkippedInput(f"not a valid .{self.kind} ({why}); {self.fix}")

    def read(self, name: str) -> bytes:
        info = self.archive.NameToInfo.get(name)
        if info is None:
            raise self.broken(f"no {name} inside")
        if info.file_size > MAX_MEMBER_BYTES:
            raise SkippedInput(f"{name} inside unpacks to {info.file_size / 1e6:.0f} MB, over the 200 MB "
                               "limit (a zip bomb?); re-save the document")
        try:
            with self.archive.open(info) as member:
                data = member.read(MAX_MEMBER_BYTES + 1)  # the header's size can lie
        except Exception:  # a bad CRC, a broken stream, a password, an unknown compression
            raise self.broken(f"{name} inside is damaged or encrypted") from None
        if len(data) > MAX_MEMBER_BYTES:
            raise SkippedInput(f"{name} inside unpacks to over 200 MB (a zip bomb?); re-save the document")
        return data

    def xml(self, name: str) -> ET.Element:
        try:
            return ET.fromstring(self.read(name))
        except (ET.ParseError, ValueError, LookupError) as exc:  # LookupError: an unknown encoding
            raise self.broken(f"{name} inside is broken XML: {_reason(exc)}") from None

    def title(self, name: str) -> str | None:
        """dc:title from a metadata member; missing or broken metadata is no title, not an error."""
        try:
            root = self.xml(name) if name in self.archive.NameToInfo else None
        except SkippedInput:
            return None
        return next((t for e in (root.iter(f"{DC}title") if root is not None else ()) if (t := _words(e))), None)


def _text_of(element: ET.Element, handle, nested: set[str], mixed: bool) -> str:
    """The text under element, nested paragraphs left out (they are pieces of their own). handle(child,
    out) returns True for a child it has dealt with. mixed: element text and tails are text, each run of
    whitespace in them one space (ODF); else only what handle emits is (WordprocessingML's w:t)."""
    out: list[str] = []

    def add(text: str | None) -> None:
        if mixed and text:
            out.append(re.sub(r"[ \t\r\n]+", " ", text))

    def walk(el: ET.Element) -> None:
        for child in el:
            if child.tag not in nested and not handle(child, out):
                add(child.text)
                walk(child)
            add(child.tail)

    add(element.text)
    walk(element)
    return "".join(out).strip()


def parse_docx(data: bytes) -> tuple[list[dict], str | None]:
    doc = _Zip(data, "docx", "re-save it from your word processor")
    body = doc.xml("word/document.xml")
    emits = {f"{W}t": None, f"{W}tab": "\t", f"{W}br": "\n", f"{W}cr": "\n"}
    # properties hold tab stops, not tabs; deleted text and field codes are not the text
    ignored = {f"{W}pPr", f"{W}rPr", f"{W}delText", f"{W}instrText"}

    def handle(child: ET.Element, out: list[str]) -> bool:
        if child.tag in emits:
            out.append(emits[child.tag] or child.text or "")
        return child.tag in emits or child.tag in ignored

    paragraphs = [_text_of(p, handle, {f"{W}p"}, mixed=False) for p in body.iter(f"{W}p")]
    return _pieces([p for p in paragraphs if p]), doc.title("docProps/core.xml")


def parse_odt(data: bytes) -> tuple[list[dict], str | None]:
    doc = _Zip(data, "odt", "re-save it from LibreOffice or your word processor")
    root = doc.xml("content.xml")
    body = root.find(f"{OFFICE}body")
    blocks = {f"{TEXT}p", f"{TEXT}h"}
    emits = {f"{TEXT}tab": "\t", f"{TEXT}line-break": "\n"}

    def handle(child: ET.Element, out: list[str]) -> bool:
        if child.tag == f"{TEXT}s":
            count = child.get(f"{TEXT}c", "1")
            out.append(" " * min(int(count) if count.isdigit() else 1, 100))
            return True
        if child.tag in emits:
            out.append(emits[child.tag])
        return child.tag in emits

    paragraphs = [_text_of(e, handle, blocks, mixed=True) for e in (body if body is not None else root).iter()
                  if e.tag in blocks]
    return _pieces([p for p in paragraphs if p]), doc.title("meta.xml")


# ---------------------------------------------------------------- epub


class _Chapter(HTMLParser):
    """Paragraphs of an XHTML chapter: the text of its block elements; scripts, styles and head dropped."""

    BLOCKS = {"p", "h1", "h2", "h3", "h4", "h5", "h6", "li", "blockquote", "div", "section", "pre", "td",
              "th", "dt", "dd", "figcaption"}
    SKIP = {"script", "style", "head", "title"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.paragraphs: list[str] = []
        self.buffer: list[str] = []
        self.skip_depth = 0

    def flush(self) -> None:
        if text := " ".join("".join(self.buffer).split()):
            self.paragraphs.append(text)
        self.buffer = []

    def handle_starttag(self, tag, attrs):
        self.skip_depth += tag in self.SKIP
        if tag in self.BLOCKS:
            self.flush()
        elif tag == "br":
            self.buffer.append(" ")

    def handle_endtag(self, tag):
        self.skip_depth = max(0, self.skip_depth - (tag in self.SKIP))
        if tag in self.BLOCKS:
            self.flush()

    def handle_data(self, data):
        if not self.skip_depth:
            self.buffer.append(data)


def parse_epub(data: bytes) -> tuple[list[dict], str | None]:
    book = _Zip(data, "epub", "re-export it from your e-book tool (e.g. Calibre)")
    container = book.xml("META-INF/container.xml")
    rootfile = container.find(".//{urn:oasis:names:tc:opendocument:xmlns:container}rootfile")
    opf_path = rootfile.get("full-path") if rootfile is not None else None
    if not opf_path:
        raise book.broken("META-INF/container.xml names no package file")
    opf = book.xml(opf_path)
    manifest = {item.get("id"): posixpath.normpath(posixpath.join(posixpath.dirname(opf_path),
                                                                  unquote(item.get("href", "").split("#")[0])))
                for item in opf.iter(f"{OPF}item")  # the table of contents is not prose
                if item.get("href") and "nav" not in (item.get("properties") or "").split()}
    chapters = [manifest[ref.get("idref")] for ref in opf.iter(f"{OPF}itemref") if ref.get("idref") in manifest]
    if not chapters:
        raise book.broken("its spine lists no chapters")
    if "META-INF/encryption.xml" in book.archive.NameToInfo:  # DRM; font obfuscation encrypts only fonts
        encrypted = {unquote(ref.get("URI", "")) for ref in book.xml("META-INF/encryption.xml").iter(
            "{http://www.w3.org/2001/04/xmlenc#}CipherReference")}
        if encrypted & set(chapters):
            raise SkippedInput("DRM-protected .epub (its chapters are encrypted); use a DRM-free copy")
    paragraphs = []
    for chapter in chapters:
        raw, parser = book.read(chapter), _Chapter()
        try:  # html.parser asserts on some malformed markup
            parser.feed(raw.decode("utf-16" if raw.startswith((b"\xff\xfe", b"\xfe\xff")) else "utf-8-sig",
                                   errors="replace"))
            parser.close()
        except Exception:
            raise book.broken(f"{chapter} inside cannot be read as XHTML") from None
        parser.flush()
        paragraphs.extend(parser.paragraphs)
    return _pieces(paragraphs), next((t for e in opf.iter(f"{DC}title") if (t := _words(e))), None)


# ---------------------------------------------------------------- pdf


def _pdf_paragraphs(text: str) -> list[str]:
    """A page's text to paragraphs: split on blank lines, hyphenated line breaks re-joined
    ("exam-\\nple" -> "example"), the other line breaks inside a paragraph made spaces."""
    blocks = re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n").replace("\r", "\n"))
    blocks = [" ".join(re.sub(r"(\w)-[ \t]*\n[ \t]*(?=[a-z])", r"\1", b).split()) for b in blocks]
    return [b for b in blocks if b]


def parse_pdf(data: bytes) -> tuple[list[dict], str | None]:
    from pypdf import PdfReader  # imported only when a PDF is read

    if not data.strip():
        raise SkippedInput("empty file")
    fix = "re-save or re-export it as PDF"
    log = logging.getLogger("pypdf")
    level = log.level
    log.setLevel(logging.ERROR)  # pypdf logs each repair of a damaged file as a warning
    try:
        try:  # pypdf raises many kinds of exception on damaged files
            reader = PdfReader(io.BytesIO(data))
            if reader.is_encrypted:
                try:
                    unlocked = bool(reader.decrypt(""))  # an owner password alone still lets anyone read
                except Exception:
                    unlocked = False
                if not unlocked:
                    raise SkippedInput("encrypted PDF; save an unencrypted copy")
            pages = list(reader.pages)
        except SkippedInput:
            raise
        except Exception as exc:
            raise SkippedInput(f"not a readable PDF, damaged or cut short ({_reason(exc)}); {fix}") from None
        paragraphs, numbers = [], []
        for number, page in enumerate(pages, 1):
            try:
                text = page.extract_text() or ""
            except Exception as exc:
                raise SkippedInput(f"page {number} of the PDF cannot be read ({_reason(exc)}); {fix}") from None
            for paragraph in _pdf_paragraphs(text):
                paragraphs.append(paragraph)
                numbers.append(number)
        try:
            title = " ".join(str(reader.metadata.title or "").split()) if reader.metadata else ""
        except Exception:
            title = ""
    finally:
        log.setLevel(level)
    if not paragraphs:
        raise SkippedInput("PDF has no text layer (scanned images?); run OCR first (e.g. ocrmypdf)")
    return _pieces(paragraphs, numbers), title or None
