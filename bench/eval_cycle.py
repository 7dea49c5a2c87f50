"""One turn of the dial on the example persona: what an eval costs once the base answers are cached.

    .venv/bin/python bench/eval_cycle.py --workspace WS [--model merged]

Needs a workspace with two finished, merged runs (A, B: two trainings of the same dataset, as after
a retrain; `make demo` twice, or `personatune train` + `merge` twice). The workspace's answer cache
is emptied first (moved aside and restored after), then:

1. full eval of run A, nothing cached (what every eval cost before the cache);
2. full eval of run B: base, prompt and rag come from the cache, only the tuned variants are
   generated (target: <= 3 minutes);
3. `eval --quick` of run B's tuned variants with the cache off (as after a fresh retrain, when no
   tuned answer can be cached: the cycle's eval; with B's training time, target <= 5 minutes).

Training time is read from run B's run.json (its wall time), not re-measured. Results go to
bench/results/eval_cycle.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=str(ROOT / "demo-workspace"))
    parser.add_argument("--model", default="merged", help="tuned model: merged | adapter | gguf:q8_0")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "eval_cycle.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from personatune import artifacts
    from personatune.eval.evaluate import Settings, evaluate
    from personatune.train.runs import list_runs
    from personatune.workspace import Workspace

    ws = Workspace.open(args.workspace)
    runs = [r["run_id"] for r in list_runs(ws)
            if r["status"] == "finished" and (ws.root / "runs" / r["run_id"] / "merged" / "config.json").exists()]
    if len(runs) < 2:
        print(f"{ws.root} needs two finished, merged runs (has {len(runs)}); train and merge twice", file=sys.stderr)
        return 2
    run_a, run_b = runs[-2], runs[-1]
    cache = ws.root / "cache" / "eval_answers.jsonl"
    aside = cache.with_name(f"eval_answers.bench-{os.getpid()}.jsonl")
    if cache.exists():
        os.replace(cache, aside)
    steps = {}
    try:
        for name, run, settings in (("full_cold", run_a, Settings(model=args.model)),
                                    ("full_after_retrain", run_b, Settings(model=args.model)),
                                    ("quick_tuned", run_b, Settings(model=args.model, quick=True, cache=False,
                                                                    variants=["tuned", "tuned+rag"]))):
            started = time.perf_counter()
            folder = evaluate(ws, run, settings)
            seconds = time.perf_counter() - started
            result = json.loads((folder / "eval.json").read_text())
            steps[name] = {"run_id": run, "eval_id": result["eval_id"], "seconds": round(seconds, 1),
                           "minutes": round(seconds / 60, 2), "answers": result["answer_cache"]["by_variant"],
                           "identity_recall": {v: result["metrics"][v].get("identity_recall")
                                               for v in result["variants"]},
                           "intervals": {v: result["intervals"][v].get("identity_recall") for v in result["variants"]}}
            print(f"{name}: {seconds / 60:.2f} min")
    finally:
        if aside.exists():
            if cache.exists():
                cache.unlink()
            shutil.move(aside, cache)
    record_b = artifacts.read_json(ws.root / "runs" / run_b / "run.json")
    train_minutes = round(record_b["wall_seconds"] / 60, 2)
    cycle = round(train_minutes + steps["quick_tuned"]["minutes"], 2)
    record = {"workspace": str(ws.root), "model": args.model, "cpu_count": os.cpu_count(), "steps": steps,
              "train_minutes_run_b": train_minutes, "train_tokens_run_b": record_b.get("tokens"),
              "cycle_minutes": cycle, "targets": {"full_after_retrain_minutes": 3, "cycle_minutes": 5}}
    print(f"full eval after retraining {steps['full_after_retrain']['minutes']} min (target 3); cycle = train "
          f"{train_minutes} + quick eval {steps['quick_tuned']['minutes']} = {cycle} min (target 5)")
    artifacts.write_json(args.output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
