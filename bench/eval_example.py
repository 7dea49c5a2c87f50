"""Eval speed: the whole suite (all five variants) on the example persona's latest run.

    .venv/bin/python bench/eval_example.py [--workspace demo-workspace] [--model merged]

Needs a trained run (`make demo` makes one). Prints and records the wall time per variant and set
and in total (target: <= 5 minutes on 2 CPU cores), the number of answers and the tokens/s.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", default=str(ROOT / "demo-workspace"))
    parser.add_argument("--model", default="merged", help="tuned model: merged | adapter | gguf:q8_0")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "eval_example.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from personatune import artifacts
    from personatune.eval.evaluate import Settings, evaluate
    from personatune.workspace import Workspace

    ws = Workspace.open(args.workspace)
    started = time.perf_counter()
    folder = evaluate(ws, None, Settings(model=args.model))
    seconds = time.perf_counter() - started
    result = json.loads((folder / "eval.json").read_text())
    answers = artifacts.read_jsonl(folder / "answers.jsonl")
    tokens = sum(a["tokens"] for a in answers)
    record = {"workspace": str(ws.root), "run_id": result["run_id"], "eval_id": result["eval_id"],
              "model": args.model, "variants": result["variants"], "answers": len(answers),
              "generated_tokens": tokens, "seconds": round(seconds, 1), "minutes": round(seconds / 60, 2),
              "target_minutes": 5, "cpu_count": os.cpu_count(), "timings": result["timings"],
              "load_average_at_end": list(os.getloadavg())}
    print(f"eval of {len(answers)} answers ({tokens} tokens) in {seconds / 60:.2f} min (target 5)")
    artifacts.write_json(args.output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
