"""Documents people write in: .docx, .odt, .epub and .pdf, built here as real small files, read one
piece per paragraph with offsets and titles; broken files are skipped with one line, never a traceback."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest

from personatune import artifacts
from personatune.data import ingest
from personatune.data.documents import parse_docx, parse_epub, parse_odt, parse_pdf
from personatune.data.runner import run_stage
from personatune.errors import SkippedInput
from personatune.workspace import Workspace, init_workspace


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONATUNE_CACHE", str(tmp_path / "cache"))


def zipped(members: dict[str, str | bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, body in members.items():
            # the mimetype member comes first and stored, as ODF and EPUB require
            archive.writestr(name, body, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


W_NS = 'xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"'
DOCX_BODY = (
    # a tab stop in the paragraph properties is not a tab; a bold run splits the sentence
    '<w:p><w:pPr><w:tabs><w:tab w:val="left" w:pos="720"/></w:tabs></w:pPr>'
    '<w:r><w:t xml:space="preserve">Sharpen the </w:t></w:r>'
    '<w:r><w:rPr><w:b/></w:rPr><w:t>chisel</w:t></w:r><w:r><w:t xml:space="preserve"> first.</w:t></w:r></w:p>\n'
    '<w:p/>\n'
    '<w:p><w:r><w:t>Angle:</w:t><w:tab/><w:t>25 degrees</w:t><w:br/><w:t>then a microbevel.</w:t></w:r></w:p>\n'
    '<w:p><w:r><w:t>Strop last.</w:t></w:r></w:p>'
)


def make_docx(body: str = DOCX_BODY, title: str | None = "Sharpening notes") -> bytes:
    members = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.'
                               'org/package/2006/content-types"/>',
        "word/document.xml": f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                             f'<w:document {W_NS}><w:body>{body}<w:sectPr/></w:body></w:document>',
    }
    if title is not None:
        members["docProps/core.xml"] = (
            '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/'
            'package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/">'
            f'<dc:title>{title}</dc:title><dc:creator>Marta</dc:creator></cp:coreProperties>')
    return zipped(members)


ODT_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')


def make_odt() -> bytes:
    content = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<office:document-content {ODT_NS} office:version="1.3">'
        '<office:automatic-styles/><office:body><office:text>\n'
        '  <text:h text:outline-level="1">Hand planes</text:h>\n'
        '  <text:p>Flatten the <text:span text:style-name="T1">sole</text:span>\n   first.</text:p>\n'
        '  <text:p/>\n'
        '  <text:list><text:list-item><text:p>Sizes:<text:tab/>4 and 5<text:line-break/>then a'
        '<text:s text:c="2"/>jointer.</text:p></text:list-item></text:list>\n'
        '</office:text></office:body></office:document-content>')
    meta = (f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ODT_NS} '
            'xmlns:dc="http://purl.org/dc/elements/1.1/"><office:meta><dc:title>Plane basics</dc:title>'
            '</office:meta></office:document-meta>')
    return zipped({"mimetype": "application/vnd.oasis.opendocument.text", "content.xml": content, "meta.xml": meta})


def xhtml(body: str) -> str:
    return ('<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml"><head>'
            f'<title>Chapter</title><style>p {{ margin: 0 }}</style></head><body>\n{body}\n</body></html>')


def make_epub() -> bytes:
    container = ('<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:'
                 'container"><rootfiles><rootfile full-path="OEBPS/content.opf" media-type="application/'
                 'oebps-package+xml"/></rootfiles></container>')
    # the manifest lists chapter 2 first; the spine's order is the reading order
    opf = ('<?xml version="1.0" encoding="UTF-8"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0" '
           'unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
           '<dc:identifier id="id">x</dc:identifier><dc:title>The Small Shop</dc:title></metadata><manifest>'
           '<item id="c2" href="Text/chapter%202.xhtml" media-type="application/xhtml+xml"/>'
           '<item id="c1" href="Text/one.xhtml" media-type="application/xhtml+xml"/>'
           '<item id="css" href="style.css" media-type="text/css"/>'
           '<item id="toc" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/></manifest>'
           '<spine><itemref idref="toc"/><itemref idref="c1"/><itemref idref="c2"/></spine></package>')
    one = xhtml('<h1>Tools on wheels</h1>\n<p>The table saw lives in the <b>middle</b>,\n  on a base.</p>\n'
                '<script>track()</script>\n<ul><li>Jointer</li><li>Planer</li></ul>')
    two = xhtml('<blockquote>Measure twice &amp; cut once.</blockquote>\n<p>Lumber goes on<br/>a wall rack.</p>')
    nav = xhtml('<nav><ol><li><a href="Text/one.xhtml">Tools on wheels</a></li></ol></nav>')
    return zipped({"mimetype": "application/epub+zip", "META-INF/container.xml": container,
                   "OEBPS/content.opf": opf, "OEBPS/Text/one.xhtml": one, "OEBPS/Text/chapter 2.xhtml": two,
                   "OEBPS/style.css": "p { margin: 0 }",
                   "OEBPS/nav.xhtml": nav})


def make_pdf(pages: list[str], title: str | None = None) -> bytes:
    """A minimal PDF by hand: a Helvetica font, one content stream per page, exact xref offsets."""
    objects = ["<< /Type /Catalog /Pages 2 0 R >>", "",
               "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]
    kids = []
    for stream in pages:
        objects.append(f"<< /Length {len(stream)} >>\nstream\n{stream}\nendstream")
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {len(objects)} 0 R "
                       "/Resources << /Font << /F1 3 0 R >> >> >>")
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>"
    if title:
        objects.append(f"<< /Title ({title}) >>")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1")
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += "".join(f"{offset:010d} 00000 n \n" for offset in offsets).encode()
    info = f" /Info {len(objects)} 0 R" if title else ""
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


PDF_PAGES = [
    "BT /F1 12 Tf 72 720 Td (Hello world) Tj ET",
    # a hyphenated line break, a plain one, then a blank line and a second paragraph
    "BT /F1 12 Tf 72 720 Td (Glue the exam-) Tj 0 -14 Td (ple joint) Tj 0 -14 Td (and clamp it.) Tj "
    "0 -14 Td ( ) Tj 0 -14 Td (Wait a day.) Tj ET",
]


def texts(pieces: list[dict]) -> list[str]:
    return [p["text"] for p in pieces]


def assert_offsets_point_at_paragraphs(pieces: list[dict]) -> None:
    joined = "\n\n".join(texts(pieces))
    for p in pieces:
        assert joined[p["offset"]:p["offset"] + len(p["text"])] == p["text"]
    assert pieces[0]["offset"] == 0


def assert_one_line_skip(parse, data: bytes, match: str) -> None:
    with pytest.raises(SkippedInput, match=match) as info:
        parse(data)
    message = str(info.value)
    assert message and "\n" not in message and "Traceback" not in message


# ---------------------------------------------------------------- the four formats


def test_docx_paragraphs_runs_tabs_breaks_and_title():
    pieces, title = parse_docx(make_docx())
    assert title == "Sharpening notes"
    assert texts(pieces) == ["Sharpen the chisel first.", "Angle:\t25 degrees\nthen a microbevel.", "Strop last."]
    assert [p["offset"] for p in pieces] == [0, 27, 65]
    assert_offsets_point_at_paragraphs(pieces)
    assert all(p["start"] is None and p["end"] is None for p in pieces)


def test_docx_without_core_properties_has_no_title():
    assert parse_docx(make_docx(title=None))[1] is None


def test_odt_headings_paragraphs_spans_and_spaces_in_order():
    pieces, title = parse_odt(make_odt())
    assert title == "Plane basics"
    assert texts(pieces) == ["Hand planes", "Flatten the sole first.", "Sizes:\t4 and 5\nthen a  jointer."]
    assert_offsets_point_at_paragraphs(pieces)


def test_epub_follows_the_spine_and_drops_scripts_head_and_table_of_contents():
    pieces, title = parse_epub(make_epub())
    assert title == "The Small Shop"
    assert texts(pieces) == ["Tools on wheels", "The table saw lives in the middle, on a base.", "Jointer",
                             "Planer", "Measure twice & cut once.", "Lumber goes on a wall rack."]
    assert_offsets_point_at_paragraphs(pieces)


def test_pdf_text_layer_pages_paragraphs_and_title():
    data = make_pdf(PDF_PAGES, title="Glue-ups")
    pieces, title = parse_pdf(data)
    assert title == "Glue-ups"
    assert texts(pieces) == ["Hello world", "Glue the example joint and clamp it.", "Wait a day."]
    assert [p["page"] for p in pieces] == [1, 2, 2]
    assert [p["offset"] for p in pieces] == [0, 13, 51]
    assert_offsets_point_at_paragraphs(pieces)


def test_pdf_page_without_blank_lines_is_one_piece_and_no_title_is_none():
    pieces, title = parse_pdf(make_pdf(["BT /F1 12 Tf 72 720 Td (First line) Tj 0 -14 Td (second line) Tj ET"]))
    assert title is None
    assert pieces == [{"text": "First line second line", "start": None, "end": None, "offset": 0, "page": 1}]


# ---------------------------------------------------------------- broken files


def test_random_bytes_named_docx():
    assert_one_line_skip(parse_docx, bytes(range(256)) * 4, r"^not a valid \.docx \(not a zip archive\); "
                                                            "re-save it from your word processor$")


def test_zip_without_the_document():
    assert_one_line_skip(parse_docx, zipped({"word/other.xml": "<x/>"}),
                         r"^not a valid \.docx \(no word/document\.xml inside\)")
    assert_one_line_skip(parse_odt, make_docx(), r"^not a valid \.odt \(no content\.xml inside\)")
    assert_one_line_skip(parse_epub, make_docx(), r"^not a valid \.epub \(no META-INF/container\.xml inside\)")


def test_broken_xml_and_empty_documents():
    assert_one_line_skip(parse_docx, zipped({"word/document.xml": "<w:document><w:body>"}),
                         r"^not a valid \.docx \(word/document\.xml inside is broken XML: ")
    assert_one_line_skip(parse_docx, make_docx(body="<w:p/><w:p><w:r><w:t> </w:t></w:r></w:p>"),
                         "^no text found$")
    assert_one_line_skip(parse_docx, b"", "^empty file$")


def test_zip_bomb_member_is_refused(monkeypatch):
    from personatune.data import documents

    monkeypatch.setattr(documents, "MAX_MEMBER_BYTES", 1000)
    big = make_docx(body="<w:p><w:r><w:t>" + "a" * 5000 + "</w:t></w:r></w:p>")
    assert_one_line_skip(parse_docx, big, r"word/document\.xml inside unpacks to .* MB, over the 200 MB limit")


def test_epub_spine_pointing_at_a_missing_chapter():
    archive = zipfile.ZipFile(io.BytesIO(make_epub()))
    members = {name: archive.read(name) for name in archive.namelist() if name != "OEBPS/Text/one.xhtml"}
    assert_one_line_skip(parse_epub, zipped(members), r"no OEBPS/Text/one\.xhtml inside")


def test_truncated_and_random_pdf():
    data = make_pdf(PDF_PAGES)
    assert_one_line_skip(parse_pdf, data[: len(data) // 2], r"^not a readable PDF, damaged or cut short \(.+\); ")
    assert_one_line_skip(parse_pdf, bytes(range(256)) * 4, "^not a readable PDF")


def test_encrypted_pdf():
    from pypdf import PdfWriter

    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(PDF_PAGES)))
    writer.encrypt("secret")
    locked = io.BytesIO()
    writer.write(locked)
    assert_one_line_skip(parse_pdf, locked.getvalue(), "^encrypted PDF; save an unencrypted copy$")
    # an owner password alone (no password to open it) is no obstacle to reading
    writer = PdfWriter(clone_from=io.BytesIO(make_pdf(PDF_PAGES)))
    writer.encrypt("", "owner")
    readable = io.BytesIO()
    writer.write(readable)
    assert texts(parse_pdf(readable.getvalue())[0])[0] == "Hello world"


def test_pdf_without_a_text_layer():
    assert_one_line_skip(parse_pdf, make_pdf(["0 0 1 rg 72 72 100 100 re f"]),
                         r"^PDF has no text layer \(scanned images\?\); run OCR first")


# ---------------------------------------------------------------- through ingest


def test_ingest_reads_the_four_formats_and_skips_a_broken_pdf(tmp_path):
    src = tmp_path / "writing"
    src.mkdir()
    (src / "sharpening.docx").write_bytes(make_docx())
    (src / "planes.odt").write_bytes(make_odt())
    (src / "small-shop.epub").write_bytes(make_epub())
    (src / "glue-ups.pdf").write_bytes(make_pdf(PDF_PAGES))  # no title in its metadata
    (src / "broken.pdf").write_bytes(make_pdf(PDF_PAGES)[:300])
    root = tmp_path / "ws"
    init_workspace(root, [str(src)])
    ws = Workspace.open(root)
    log: list[str] = []
    report = run_stage(ws, "ingest", log=log.append).report
    assert report["documents"] == 4
    assert report["formats"] == {"docx": 1, "odt": 1, "epub": 1, "pdf": 1}
    assert report["skipped"] == 1
    (skipped,) = report["skipped_files"]
    assert skipped["file"] == str(src / "broken.pdf")
    assert skipped["reason"].startswith("not a readable PDF, damaged or cut short")
    assert f"  skipped {src / 'broken.pdf'}: {skipped['reason']}" in log
    docs = {Path(d["source"]).name: d for d in artifacts.read_jsonl(ws.stage_dir("ingest") / "documents.jsonl")}
    assert {name: d["format"] for name, d in docs.items()} == {
        "glue-ups.pdf": "pdf", "planes.odt": "odt", "sharpening.docx": "docx", "small-shop.epub": "epub"}
    assert {name: d["title"] for name, d in docs.items()} == {
        "glue-ups.pdf": "Glue ups", "planes.odt": "Plane basics", "sharpening.docx": "Sharpening notes",
        "small-shop.epub": "The Small Shop"}
    assert docs["glue-ups.pdf"]["pieces"][1]["page"] == 2
    for name, d in docs.items():
        assert d["sha256"] == artifacts.sha256_file(src / name)
        parsed = ingest.parse_file(src / name, ingest.Settings())
        assert texts(d["pieces"]) == texts(parsed["pieces"]) and d["pieces"][0]["offset"] == 0
