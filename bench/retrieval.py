"""Does retrieval find the passage that answers a question about the person, however it is asked?

    .venv/bin/python bench/retrieval.py --workspace WS [--probes P] [--output bench/results/retrieval-NAME.json]

For every identity and opinion probe of the workspace's probes file (or `--probes`), in every phrasing it
has (`question` and each `rephrased`: eval asks a rephrased one when the question itself was trained on), the
passage that holds its facts (the segment of the probe's source that states the most expected strings) must
be among the `rag.top_k` passages the workspace's index returns. Prints and records recall per mode: BM25,
dense, fused, and fused with the persona vote at each weight of `--votes` (`rag.persona_vote`), with the phrasings each one misses.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--probes", default=None, help="a probes file (default: the workspace's)")
    parser.add_argument("--output", default=None)
    parser.add_argument("--votes", type=float, nargs="+", default=[0.25, 0.5, 1.0], help="persona_vote weights to try")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from personatune.data.pairs import load_probes
    from personatune.data.rag import Settings, build_index, probe_targets
    from personatune.settings import resolve
    from personatune.workspace import Workspace

    ws = Workspace.open(args.workspace)
    probes_path = args.probes or ws.config.get("probes")
    probes = load_probes(Path(probes_path))
    settings = resolve(Settings, ws.section("rag"))
    index = build_index(ws, settings, log=lambda _: None)
    items = (probes.get("identity") or []) + (probes.get("opinions") or [])
    targets = dict(probe_targets(index, probes))
    asked = [(phrasing, targets[item["question"]]) for item in items if item["question"] in targets
             for phrasing in [item["question"], *(item.get("rephrased") or [])]]
    k = settings.top_k
    result: dict = {"workspace": str(ws.root), "probes": len(targets), "phrasings": len(asked), "top_k": k}
    modes = {"bm25": ("bm25", 0.0), "dense": ("dense", 0.0), "fused": ("fused", 0.0),
             **{f"fused+persona_vote {w}": ("fused", w) for w in args.votes}}
    for name, (mode, vote) in modes.items():
        index.settings = dataclasses.replace(settings, persona_vote=vote)
        missed = [q for q, t in asked if index.segments[t]["segment_id"] not in
                  [h["segment_id"] for h in index.search(q, k, mode=mode)]]
        result[name] = {f"recall@{k}": round(1 - len(missed) / max(1, len(asked)), 3), "missed": missed}
        print(f"{name:20s} recall@{k} {result[name][f'recall@{k}']:.3f} ({len(asked) - len(missed)}/{len(asked)})")
    output = Path(args.output or ROOT / "bench" / "results" / f"retrieval-{ws.root.name}.json")
    output.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
