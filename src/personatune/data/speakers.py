"""Who is speaking: the person's own voice apart from hosts, guests and callers in tagged transcripts.

Interviews and podcasts have several voices. Tags are read where sources carry them: WebVTT voice
spans (`<v Lex Fridman>...</v>`, split into pieces by `formats.parse_vtt`), diarized Whisper JSON
(`"speaker": "SPEAKER_01"` per segment) and transcripts whose turns start with a name and a colon
("LEX FRIDMAN: ...", "Host: ...", "Speaker 2: ..."); a turn runs until the next tag. Each piece of a
tagged document gets `speaker` and `voice`: "person" when the speaker is one of the person's names
(`ingest.speakers`, or else the workspace's name), "other" otherwise. Other voices are never persona
and never answers (the label stage marks them `other`); untagged documents are the person's.
"""

from __future__ import annotations

import re
from collections import Counter

# A turn tag at the start of a line: "LEX FRIDMAN:", "Lex:", "Speaker 2:", "SPEAKER_01:", "Dr. Jane Doe:".
_TAG = re.compile(r"^\s*((?:[A-Z][\w.'’-]*)(?: [A-Z][\w.'’-]*){0,3}|SPEAKER_\d+|Speaker \d+)\s*:\s+(?=\S)")
_MIN_TAGGED = 3  # fewer tagged lines than this is prose with a colon, not a transcript
_PROSE_WORDS = {"Note", "Update", "Edit", "Warning", "Tip", "Step", "Example", "Source", "Answer", "Question", "Q", "A",
                "Summary", "Result", "Output", "Input", "Error", "Important", "Disclaimer"}


def read_turn_tags(pieces: list[dict]) -> bool:
    """Move "NAME: " turn tags of a transcript's pieces into `speaker` (in place). True if it was tagged.

    A tag counts only when the same name opens at least two turns and the document has at least three
    tagged turns, so "Note: ..." in a blog post stays text.
    """
    found = [(_TAG.match(p["text"]), p) for p in pieces]
    names = Counter(m.group(1) for m, _ in found if m and m.group(1) not in _PROSE_WORDS)
    speakers = {name for name, count in names.items() if count >= 2}
    if sum(names[s] for s in speakers) < _MIN_TAGGED:
        return False
    current = None
    for match, p in found:
        if match and match.group(1) in speakers:
            current = match.group(1)
            p["text"] = p["text"][match.end():]
            if p.get("offset") is not None:
                p["offset"] += match.end()
        if current is not None and not p.get("speaker"):
            p["speaker"] = current
    return True


def _norm(name: str) -> str:
    return " ".join(re.sub(r"[^\w\s]", " ", name.lower()).split())


def is_person(speaker: str, names: list[str], fallback: str) -> bool:
    """The person's own names (exact, any case) or, when none are set, the workspace's name: its
    full form or one of its words ("Lex Fridman" answers to "LEX", "Fridman", "Lex Fridman")."""
    said = _norm(speaker)
    if names:
        return said in {_norm(n) for n in names}
    full = _norm(fallback)
    return bool(full) and (said == full or said in full.split())


def attribute(doc: dict, names: list[str], fallback: str, read_tags: bool) -> dict:
    """Set `voice` on the pieces of a speaker-tagged document; what was found, for the log and report."""
    if read_tags and not any(p.get("speaker") for p in doc["pieces"]):
        read_turn_tags(doc["pieces"])
    speakers = Counter(p["speaker"] for p in doc["pieces"] if p.get("speaker"))
    if not speakers:
        return {}
    own = {s for s in speakers if is_person(s, names, fallback)}
    for p in doc["pieces"]:
        speaker = p.get("speaker")
        p["voice"] = "person" if speaker is None or speaker in own else "other"
    return {"speakers": dict(speakers), "person": sorted(own)}
