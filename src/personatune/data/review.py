"""`personatune label DIR --review`: a person walks through the borderline segments in the terminal.

Each decision is appended to labels.override.jsonl the moment it is made (so quitting loses
nothing); the file is the human's and the tool never rewrites it.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Callable

from personatune import artifacts
from personatune.data.label import read_overrides
from personatune.data.label_cues import SUBTYPES
from personatune.errors import UserError
from personatune.workspace import Workspace

SUBTYPE_KEYS = {s[0]: s for s in SUBTYPES}  # b, o, w, s, v


def _exclusive(handle) -> None:
    try:
        import fcntl
    except ImportError:
        return
    fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes


def append_override(path, row: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:  # reads anywhere, writes always go to the end
        _exclusive(handle)  # two reviewers at once append whole lines, one after the other
        if handle.seek(0, os.SEEK_END) > 0:
            handle.seek(-1, os.SEEK_END)
            if handle.read(1) != b"\n":
                handle.write(b"\n")  # a hand edit left the last line open: never glue a decision onto it
        handle.write((json.dumps(row, ensure_ascii=False) + "\n").encode("utf-8"))
        handle.flush()
        os.fsync(handle.fileno())


def borderline(ws: Workspace) -> list[dict]:
    path = ws.stage_dir("label") / "labels.jsonl"
    if not path.exists():
        raise UserError(f"no labels yet in {ws.root}; run `personatune run {ws.root} --until label` first")
    done = read_overrides(ws.overrides_path)
    rows = [r for r in artifacts.read_jsonl(path) if r["borderline"] and r["key"] not in done and r["segment_id"] not in done]
    threshold = artifacts.read_json(ws.stage_dir("label") / "record.json")["settings"]["persona_threshold"]
    return sorted(rows, key=lambda r: abs(r["score"] - threshold))


def _ask_or_quit(ask: Callable[[str], str]) -> Callable[[str], str]:
    """Ctrl-D (or a closed stdin) means quit: what was decided so far is already saved."""
    def wrapped(prompt: str) -> str:
        try:
            return ask(prompt)
        except EOFError:
            return "q"
    return wrapped


def review(ws: Workspace, ask: Callable[[str], str] = input, say: Callable[[str], None] = print) -> dict:
    ask = _ask_or_quit(ask)
    rows = borderline(ws)
    counts = {"accepted": 0, "flipped": 0, "skipped": 0}
    if not rows:
        say("No borderline segments left to review.")
        return counts
    say(f"{len(rows)} borderline segments. For each: [a]ccept the label, [f]lip it, [s]kip, [q]uit. "
        f"Decisions are saved to {ws.overrides_path} as you go.")
    for number, row in enumerate(rows, 1):
        where = f"{row['source'].rsplit('/', 1)[-1]}" + (f" @ {row['start']:.0f}s" if row.get("start") is not None else "")
        say(f"\n[{number}/{len(rows)}] {where}\n" + textwrap.fill(row["text"], 100, initial_indent="  ",
                                                                 subsequent_indent="  "))
        current = row["label"] + (f" ({row['subtype']})" if row.get("subtype") else "")
        say(f"  labelled {current}, score {row['score']:.2f}: {row['reason']}")
        while True:
            answer = ask("  [a]ccept / [f]lip / [s]kip / [q]uit > ").strip().lower()[:1]
            if answer in ("a", "f", "s", "q"):
                break
            say("  please type a, f, s or q")
        if answer == "q":
            break
        if answer == "s":
            counts["skipped"] += 1
            continue
        label, subtype = row["label"], row.get("subtype")
        if answer == "f":
            if label == "persona":
                label, subtype = "instructional", None
            else:
                label = "persona"
                choice = ask("  subtype: [b]ackground [o]pinion [w]orking_style [s]tory [v]alues > ").strip().lower()[:1]
                subtype = SUBTYPE_KEYS.get(choice) or row.get("subtype") or "story"
        append_override(ws.overrides_path, {"key": row["key"], "segment_id": row["segment_id"], "label": label,
                                            "subtype": subtype, "text": row["text"], "source": row["source"],
                                            "decided": "flip" if answer == "f" else "accept",
                                            "at": time.strftime("%Y-%m-%dT%H:%M:%S")})
        counts["flipped" if answer == "f" else "accepted"] += 1
    say(f"\nreviewed: {counts['accepted']} accepted, {counts['flipped']} flipped, {counts['skipped']} skipped")
    return counts
