"""Names of the realistic per-format fixtures, shared by the ingest and clean tests."""

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
FORMATS = FIXTURES / "formats"
BAD = FIXTURES / "bad"

YOUTUBE_VTT = "v12-chisel-sharpening.vtt"
HANDMADE_VTT = "episode-12-bench-flattening.vtt"
SRT = "2023-04-drill-press-restore.srt"
TXT = "2023-04-drill-press-restore.txt"
YOUTUBE_JSON = "v20-milling-rough-lumber.json"
WHISPER_JSON = "v31-shop-stool.json"
MARKDOWN = "2021-05-small-shop-layout.md"
HTML = "finishing-faq.html"
CHAT = "chat-export.jsonl"
