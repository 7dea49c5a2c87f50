"""Passages cut to the sentences that answer the question: does retrieval help more? (measured, not kept)

    .venv/bin/python bench/focused_passages.py --workspace WS [--words 60]

The model trained as served copies a passage's opening: where the right passage is retrieved first but
the fact sits in its fourth sentence, the answer is its first sentence. This evaluates the workspace's
latest run again (variants rag and tuned+rag) with every passage longer than `--words` cut to its
sentences that best match the question (MiniLM similarity plus shared words; the best sentence and its
neighbours, in the person's order, words unchanged), and prints identity recall and invented biography
next to the workspace's latest full eval (of the same run). Nothing in the package changes: the runtimes' system message is
swapped for this run only. Records bench/results/focused_passages-<workspace>.json.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("identity_recall", "identity_recall_trained", "invented_rate")
_WORD = re.compile(r"[a-z0-9']+")


def focus(hits: list[dict], query: str, embedder, words: int) -> list[dict]:
    """Each passage longer than `words` cut to its best-matching sentence, grown by neighbours while it fits."""
    import numpy as np

    from personatune.data.template_questions import sentences

    q = embedder.encode([query])[0]
    asked = set(_WORD.findall(query.lower()))
    out = []
    for hit in hits:
        parts = sentences(hit["text"])
        if len(hit["text"].split()) <= words or len(parts) < 2:
            out.append(hit)
            continue
        score = embedder.encode(parts) @ q + 0.05 * np.array([len(asked & set(_WORD.findall(p.lower()))) for p in parts])
        best = int(np.argmax(score))
        lo, hi, n = best, best + 1, len(parts[best].split())
        grown = True
        while grown:
            grown = False
            for j in (hi, lo - 1):
                if 0 <= j < len(parts) and n + len(parts[j].split()) <= words:
                    n += len(parts[j].split())
                    lo, hi, grown = min(lo, j), max(hi, j + 1), True
                    break
        out.append({**hit, "text": " ".join(parts[lo:hi])})
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--words", type=int, default=60, help="longest passage kept whole")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from personatune import artifacts
    from personatune.data.rag import served_system
    from personatune.embed import get_embedder
    from personatune.eval.evaluate import Settings, evaluate
    from personatune.persona import prompting
    from personatune.workspace import Workspace

    ws = Workspace.open(args.workspace)
    evals = [json.loads(p.read_text()) for p in sorted((ws.root / "eval").glob("*/eval.json"))]
    evals = [e for e in evals if {"base", "rag", "tuned+rag"} <= set(e["variants"])]  # full evals, not this one's
    if not evals:
        sys.exit(f"error: no full eval in {ws.root}/eval; run `personatune eval {ws.root}` first, then this")
    before = evals[-1]
    embedder = get_embedder("all-minilm-l6-v2")
    plain = prompting.Persona.system

    def system(self, toggles, query, client_system=None):
        base, hits = plain(self, toggles, query, client_system)
        if not hits:
            return base, hits
        hits = focus(hits, query, embedder, args.words)
        return served_system(self.card if toggles.card and self.card else self.plain_system, hits), hits

    prompting.Persona.system = system
    settings = Settings()
    settings.variants = ["rag", "tuned+rag"]
    after = json.loads((evaluate(ws, before["run_id"], settings) / "eval.json").read_text())
    table = {variant: {"whole passages": {k: before["metrics"][variant].get(k) for k in METRICS},
                       f"cut to {args.words} words": {k: after["metrics"][variant].get(k) for k in METRICS}}
             for variant in settings.variants}
    for variant, rows in table.items():
        for name, row in rows.items():
            print(f"{variant:10} {name:16} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items() if v is not None))
    artifacts.write_json(ROOT / "bench" / "results" / f"focused_passages-{ws.root.name}.json",
                         {"workspace": str(ws.root), "run_id": before["run_id"], "words": args.words,
                          "before_eval": before["eval_id"], "after_eval": after["eval_id"], "metrics": table})
    return 0


if __name__ == "__main__":
    sys.exit(main())
