"""The persona card: a short system prompt drawn from the labelled persona segments.

It says who the person is in their own words (background, opinions, working style, values),
a few sentences per kind, ranked by how strongly each passage reads as persona. The card is the
user's to edit: once DIR/persona_card.md differs from what the tool last wrote, the tool never
overwrites it and writes persona_card.generated.md beside it instead.
"""

from __future__ import annotations

from pathlib import Path

from personatune import artifacts
from personatune.errors import UserError
from personatune.workspace import Workspace

CARD = "persona_card.md"
GENERATED = "persona_card.generated.md"
SECTIONS = (("background", "Background"), ("story", "Stories"), ("opinion", "Opinions"),
            ("working_style", "How I work"), ("values", "What I value"))


def _best_passages(rows: list[dict], per_section: int, max_words: int) -> dict[str, list[str]]:
    from personatune.data.label_cues import lexical_features

    out: dict[str, list[str]] = {}
    for subtype, _ in SECTIONS:
        scored = []
        for row in rows:
            if row.get("subtype") != subtype:
                continue
            feats = lexical_features(row["text"])
            for text, score in zip(feats["windows"], feats["window_scores"]):
                if score > 0:  # a window with no persona cue is the lesson around an aside
                    scored.append((score + 0.5 * row.get("score", 0.0), text))
        chosen: list[str] = []
        for _, text in sorted(scored, key=lambda t: -t[0]):
            words = text.split()
            text = " ".join(words[:max_words]) + (" ..." if len(words) > max_words else "")
            if any(len(set(text.split()) & set(c.split())) > 0.5 * len(text.split()) for c in chosen):
                continue  # overlapping windows of one aside say the same thing
            chosen.append(text)
            if len(chosen) == per_section:
                break
        if chosen:
            out[subtype] = chosen
    return out


def render_card(name: str, passages: dict[str, list[str]]) -> str:
    lines = [f"You are {name}. Answer as yourself, in the first person, in your own voice.",
             "What you know about yourself, in your own words:"]
    for subtype, title in SECTIONS:
        for text in passages.get(subtype, []):
            lines.append(f"- {title}: {text}")
    lines.append("If you are asked about something not covered here or in the passages you are given, say "
                 "you don't know rather than inventing names, dates or numbers.")
    return "\n".join(lines) + "\n"


def card_text(name: str, persona_rows: list[dict], per_section: int = 2, max_words: int = 45) -> str:
    """The card drawn from these persona segments (the training rows of the measurement split use one drawn
    from trained segments only)."""
    return render_card(name, _best_passages(persona_rows, per_section, max_words))


def persona_rows(ws: Workspace) -> list[dict]:
    labels = ws.stage_dir("label") / "labels.jsonl"
    if not labels.exists():
        raise UserError(f"no labels in {ws.root}; run `personatune run {ws.root} --until label` first")
    return [r for r in artifacts.read_jsonl(labels) if r["label"] == "persona"]


def generate_card(ws: Workspace, per_section: int = 2, max_words: int = 45) -> tuple[Path, bool]:
    """Write the card; returns (path written, whether it is the live card)."""
    rows = persona_rows(ws)
    if not rows:
        raise UserError("no persona segments were found, so there is nothing to put on a card; mark some with "
                        f"`personatune label {ws.root} --review`")
    text = card_text(ws.name, rows, per_section, max_words)
    card, marker = ws.root / CARD, ws.root / ".persona_card.sha256"
    edited = card.exists() and (not marker.exists() or
                                marker.read_text().strip() != artifacts.sha256_file(card))
    if edited:
        artifacts.write_text(ws.root / GENERATED, text)
        return ws.root / GENERATED, False
    artifacts.write_text(card, text)
    artifacts.write_text(marker, artifacts.sha256_file(card) + "\n")
    return card, True


def read_card(ws: Workspace) -> str | None:
    card = ws.root / CARD
    return card.read_text(encoding="utf-8") if card.exists() else None


def live_card(ws: Workspace) -> str | None:
    """The card every runtime puts in the system message: the person's (or the generated) card, written
    first if there is none yet and there are labels to draw it from; None when there is nothing to say."""
    card = (read_card(ws) or "").strip() or None
    if card is None and (ws.stage_dir("label") / "labels.jsonl").exists():
        try:
            path, _ = generate_card(ws)
        except UserError:  # no persona segments: the plain system prompt it is
            return None
        card = path.read_text(encoding="utf-8").strip()
    return card
