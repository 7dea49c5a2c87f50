"""Does the model know who it is? One turn of the whole loop on a workspace, and the identity table.

    .venv/bin/python bench/identity.py --workspace WS [--skip-train] [--quick]

Runs every stage that is out of date, trains the model you keep (`train` at the workspace's settings,
deploy split), merges it and evaluates base, rag (base + card + passages), tuned and tuned+rag.
Prints and records (bench/results/identity-<workspace>.json) identity recall per variant (and on
trained / never-seen facts), invented biography, bleed on neutral prompts and general accuracy, with
the build settings that matter (ratio, served share) and the minutes each step took. The workspace
needs probes (`probes:` in persona.yaml): the example's, or bench/data/probes/drew-devault-blog.yaml
for the real blog archive.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
METRICS = ("identity_recall", "identity_recall_trained", "identity_recall_unseen", "invented_rate", "bleed_rate",
           "copied_8gram_share", "general_accuracy", "length_median_ratio")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--skip-train", action="store_true", help="evaluate the latest merged run instead")
    parser.add_argument("--quick", action="store_true", help="eval --quick (a documented subset)")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from personatune import artifacts
    from personatune.data.runner import run_pipeline
    from personatune.eval.evaluate import Settings as EvalSettings
    from personatune.eval.evaluate import evaluate
    from personatune.settings import resolve
    from personatune.train.merge import merge
    from personatune.train.runs import Settings as TrainSettings
    from personatune.train.runs import train
    from personatune.workspace import Workspace

    ws = Workspace.open(args.workspace)
    minutes: dict[str, float] = {}

    def timed(name: str, step):
        started = time.perf_counter()
        out = step()
        minutes[name] = round((time.perf_counter() - started) / 60, 2)
        return out

    timed("pipeline", lambda: run_pipeline(ws))
    run_id = None
    if not args.skip_train:
        run_dir = timed("train", lambda: train(ws, resolve(TrainSettings, ws.section("train"))))
        timed("merge", lambda: merge(ws, run_dir.name))
        run_id = run_dir.name
    settings = resolve(EvalSettings, ws.section("eval"))
    settings.quick = args.quick
    folder = timed("eval", lambda: evaluate(ws, run_id, settings))
    result = json.loads((folder / "eval.json").read_text())
    build = artifacts.read_json(ws.stage_dir("build") / "report.json")
    run = artifacts.read_json(ws.root / "runs" / result["run_id"] / "run.json")
    table = {v: {k: result["metrics"][v].get(k) for k in METRICS if result["metrics"][v].get(k) is not None}
             for v in result["variants"]}
    record = {"workspace": str(ws.root), "person": ws.name, "run_id": result["run_id"], "eval_id": result["eval_id"],
              "quick": args.quick, "ratio": build["ratio"], "served": build.get("served"),
              "served_rows": run.get("served_rows"), "base_model": run.get("base_model"),
              "train_settings": run["settings"], "minutes": minutes,
              "metrics": table, "intervals": {v: {k: result["intervals"][v].get(k) for k in table[v]}
                                              for v in table},
              "probes_asked_in_training": result.get("probes_asked_in_training"),
              "flags": [f["flag"] for f in result["flags"] if f["fired"]], "dataset_changed_since_training": bool(result.get("dataset_changed_since_training"))}
    print(f"\n{ws.name}: ratio {build['ratio']}x, served rows {run.get('served_rows')}, minutes {minutes}")
    print(f"{'variant':10} " + " ".join(f"{k[:22]:>22}" for k in METRICS))
    for variant, row in table.items():
        print(f"{variant:10} " + " ".join(f"{row[k]:>22.3f}" if k in row else f"{'':>22}" for k in METRICS))
    name = Path(ws.root).name
    artifacts.write_json(args.output or ROOT / "bench" / "results" / f"identity-{name}.json", record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
