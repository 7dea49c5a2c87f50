"""`personatune label DIR --review`: a person walks through the borderline segments in the terminal.

The segment offered next is always the one the classifier is least sure about, after it has adapted
to every decision so far (active learning); the next `run` relabels the archive with the same adaptation.

Each decision is appended to labels.override.jsonl the moment it is made (so quitting loses
nothing); the file is the human's and the tool never rewrites it.
"""

from __future__ import annotations

import json
import os
import textwrap
import time
from collections.abc import Callable

import numpy as np

from personatune import artifacts
from personatune.data.label import read_overrides
from personatune.data.label_cues import SUBTYPES, lexical_features
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
    threshold = _settings(ws)["persona_threshold"]
    return sorted(rows, key=lambda r: abs(r["score"] - threshold))


def _settings(ws: Workspace) -> dict:
    return artifacts.read_json(ws.stage_dir("label") / "record.json")["settings"]


class Ranker:
    """Active learning: after every decision the classifier adapts to all of this archive's decisions
    so far, and the next segment offered is the one it is now least sure about."""

    def __init__(self, ws: Workspace, pool: list[dict]):
        from personatune.data.label import Settings
        from personatune.settings import resolve

        self.settings = resolve(Settings, from_config=_settings(ws))
        labelled = artifacts.read_jsonl(ws.stage_dir("label") / "labels.jsonl")
        done = read_overrides(ws.overrides_path)
        decided = [r for r in labelled if (done.get(r["key"]) or done.get(r["segment_id"]))]
        self.pool = list(pool)
        self.x = self._features(self.pool + decided)
        self.decided = {len(self.pool) + k: (done.get(r["key"]) or done.get(r["segment_id"]))["label"] == "persona"
                        for k, r in enumerate(decided)}
        self.remaining = list(range(len(self.pool)))
        self.scores = np.array([r["score"] for r in self.pool] + [r["score"] for r in decided])

    def _features(self, rows: list[dict]) -> np.ndarray:
        from personatune.data import label_model

        texts = [r["text"] for r in rows]
        cue_scores = [float(r.get("cue_score", 0.0)) for r in rows]
        return label_model.features(texts, [lexical_features(t) for t in texts], cue_scores,
                                    [c >= self.settings.cue_threshold for c in cue_scores])

    def next(self) -> dict | None:
        if not self.remaining:
            return None
        best = min(self.remaining, key=lambda i: abs(self.scores[i] - self.settings.persona_threshold))
        self.remaining.remove(best)
        self.current = best
        return {**self.pool[best], "score": round(float(self.scores[best]), 3)}

    def decide(self, persona: bool | None) -> None:
        """Record the human's label for the segment last offered (None: skipped) and re-rank the rest."""
        from personatune.data import label_model

        if persona is None:
            return
        self.decided[self.current] = persona
        index = sorted(self.decided)
        model = label_model.adapt(label_model.shipped(), self.x[index],
                                  np.array([self.decided[i] for i in index], dtype=np.float64),
                                  self.settings.adapt_strength)
        self.scores = model.predict(self.x)


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
    say(f"{len(rows)} borderline segments, least sure first; the classifier learns from each decision and "
        f"re-ranks the rest. For each: [a]ccept the label, [f]lip it, [s]kip, [q]uit. "
        f"Decisions are saved to {ws.overrides_path} as you go.")
    ranker = Ranker(ws, rows)
    number = 0
    while (row := ranker.next()) is not None:
        number += 1
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
            ranker.decide(None)
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
        ranker.decide(label == "persona")
    say(f"\nreviewed: {counts['accepted']} accepted, {counts['flipped']} flipped, {counts['skipped']} skipped")
    return counts
