"""Train as served: rows whose system message is the one every runtime sends.

chat, serve, eval and the browser page put the persona card and the passages retrieval finds in the
system message; a model trained only on "You are {name}." never learns to use them. `build` marks a
share of rows (`mark_served`); the dataset stage renders their system message here, with the
workspace's own index and `rag.served_system`, the function the runtimes use. A row marked "gold" has
its own segment among the passages; a "distractors" row has other passages only, so the model also
learns to answer from what it learned when retrieval misses. A held-out segment (validation, held-out)
is never a passage, and the measurement split's card is drawn from trained persona segments only.
"""

from __future__ import annotations

from collections import Counter

from personatune import artifacts
from personatune.workspace import Workspace

SERVED_SPLITS = ("train", "deploy")


def _unit(seed: int, salt: str, key: str) -> float:
    """A uniform number in [0, 1) that is a pure function of (seed, salt, key)."""
    return int(artifacts.sha256_text(f"{seed}:{salt}:{key}")[:12], 16) / 16 ** 12


def mark_served(examples: list[dict], seed: int, share: float, gold_share: float, fact_share: float | None = None) -> dict:
    """Choose the rows trained as served (`served`: "gold" or "distractors"), `fact_share` of the fact pairs and
    `share` of the rest; the dataset stage renders their system message. A row keeps its choice in every split
    it is in (train rows are also deploy rows)."""
    counts = Counter()
    for ex in examples:
        if _unit(seed, "served", ex["id"]) < (share if fact_share is None or not ex.get("parent") else fact_share):
            ex["served"] = "gold" if _unit(seed, "gold", ex["id"]) < gold_share else "distractors"
            counts[f"{ex['label']}/{ex['served']}"] += 1
    return dict(sorted(counts.items()))


def served_section(served: dict | None) -> list[str]:
    if not served:
        return []

    def total(split: str, kind: str = "") -> int:
        return sum(n for key, n in served[split].items() if key.endswith(kind))
    fact_share = served.get("fact_share", served["share"])
    lines = ["", f"## Trained as served: {served['share']:.0%} of rows"
             + (f", {fact_share:.0%} of fact pairs" if fact_share != served["share"] else ""), "",
             "These rows carry the system message chat, serve and eval send (the persona card and the passages "
             "retrieval finds for the question, rendered by the same function), so the model learns to use "
             f"passages. In {served['gold_share']:.0%} of them the answer's own segment is among the passages; in "
             "the rest only other passages are, so it also learns to answer from what it learned. A held-out "
             "segment is never a passage.", ""]
    for split in ("train", "deploy"):
        lines.append(f"- {split}: {total(split)} rows served ({total(split, 'gold')} with their own passage, "
                     f"{total(split, 'distractors')} with others only; persona "
                     f"{sum(n for k, n in served[split].items() if k.startswith('persona/'))})")
    return lines




def _held_out(rows_by_split: dict[str, list[dict]]) -> tuple[set[str], set[str]]:
    """(every held-out segment, the held-out persona segments) by segment id."""
    held, persona = set(), set()
    for split in ("validation", "heldout"):
        for row in rows_by_split.get(split, []):
            segment = row.get("parent") or row["segment_id"]
            held.add(segment)
            if row["label"] == "persona":
                persona.add(segment)
    return held, persona


def _passages(index, row: dict, excluded: set[str], top_k: int) -> tuple[list[dict], str]:
    """The passages retrieval finds for the row's question, held-out segments left out, with the row's own
    segment put in (gold) or taken out (distractors); and what happened to it."""
    own = row.get("parent") or row["segment_id"]
    hits = [h for h in index.search(row["question"], k=index.settings.candidates) if h["segment_id"] not in excluded]
    if row["served"] == "distractors":
        return [h for h in hits if h["segment_id"] != own][:top_k], "left out"
    top = hits[:top_k]
    if any(h["segment_id"] == own for h in top):
        return top, "retrieved"
    found = index.by_id(own)
    if found is None:  # not in the index (another speaker's voice cannot be an answer, so this is rare)
        return top, "not indexed"
    at = int(_unit(0, "position", row["id"]) * min(top_k, len(top) + 1))
    return (top[:at] + [found] + top[at:])[:top_k], "put in"


def served_systems(ws: Workspace, rows_by_split: dict[str, list[dict]], plain: str, log=print) -> tuple[dict, dict]:
    """split -> {row id: (system message, passage segment ids, "gold" or "distractors")} for the rows build
    marked served, and a report. A row whose own segment is not in the index (a contrastive pair from the
    probes file) can only be "distractors"."""
    marked = {s: [r for r in rows_by_split.get(s, []) if r.get("served")] for s in SERVED_SPLITS}
    if not any(marked.values()):
        return {}, {}
    from personatune.data.card import card_text, live_card, persona_rows
    from personatune.data.rag import Settings as RagSettings
    from personatune.data.rag import build_index, served_system
    from personatune.settings import resolve

    rag = resolve(RagSettings, ws.section("rag"), where=f"{ws.config_path} [rag]")
    index = build_index(ws, rag, log=log)
    held, held_persona = _held_out(rows_by_split)
    trained_persona = [r for r in persona_rows(ws) if r["segment_id"] not in held]
    cards = {"deploy": live_card(ws), "train": card_text(ws.name, trained_persona) if trained_persona else None}
    out, report = {}, {"top_k": rag.top_k}
    for split in SERVED_SPLITS:
        excluded = held if split == "train" else held - held_persona
        base = (cards[split] or "").strip() or plain
        own, words, systems = Counter(), [], {}
        for row in marked[split]:
            hits, what = _passages(index, row, excluded, rag.top_k)
            own[what] += 1
            system = served_system(base, hits)
            words.append(len(system.split()))
            ids = [h["segment_id"] for h in hits]  # "gold" only where the own passage is really there
            systems[row["id"]] = (system, ids, "gold" if (row.get("parent") or row["segment_id"]) in ids
                                  else "distractors")
        out[split] = systems
        report[split] = {"rows": len(systems), "own_passage": dict(own),
                         "system_words_mean": round(sum(words) / len(words), 1) if words else 0}
    return out, report

