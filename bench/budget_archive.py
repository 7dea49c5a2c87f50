"""A 5,000-segment archive, raw files to a trained adapter, with the training token budget on.

    .venv/bin/python bench/budget_archive.py [--segments 5000] [--budget 100000] [--no-budget] [--keep DIR]
    .venv/bin/python bench/budget_archive.py --keep DIR --resume [--no-budget]

A synthetic creator archive (bench/synth_archive.py: captions in four formats and a blog, 2% persona)
is written to a temporary folder, a workspace is made for it with `build.budget_tokens` set, and
the clock runs over: the data pipeline (ingest .. dataset), training at the default settings, and a
quick eval of the tuned model (`eval --quick --variants tuned`, identity recall on the probes the
eval derives from held-out persona segments, with its interval). It trains the measurement split
(`train.persona_held_out: true`): the run `train` makes by default learns every persona segment, the
held-out ones too, and eval leaves out a probe asked word for word in training. Target: raw files -> trained
adapter <= 30 minutes on 2 cores. `--no-budget` measures the same archive without a budget (with
today's question writer the budget does not bind on this archive: docs/benchmarks.md). `--resume` continues an interrupted run in `--keep DIR`
(same archive, same dataset); its training minutes are then the run's tokens at the tokens/s of the
steps trained in this call. Results: bench/results/budget_archive[-nobudget].json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "src"))
from synth_archive import generate_archive  # noqa: E402  (a sibling script, not a package)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--segments", type=int, default=5000)
    parser.add_argument("--budget", type=int, default=100_000, help="build.budget_tokens (default: %(default)s)")
    parser.add_argument("--no-budget", action="store_true", help="the same archive without a budget")
    parser.add_argument("--keep", help="make the workspace here (kept) instead of a temporary folder")
    parser.add_argument("--resume", action="store_true", help="continue the interrupted run in --keep DIR")
    parser.add_argument("--output", default=None)
    args = parser.parse_args()
    import yaml

    from personatune.data.runner import run_pipeline
    from personatune.train.runs import Settings as TrainSettings
    from personatune.train.runs import train
    from personatune.workspace import Workspace, init_workspace

    if args.resume:
        if not args.keep:
            parser.error("--resume needs --keep DIR (the folder of the interrupted run)")
        return resume(Path(args.keep), args)
    top = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="budget-archive-"))
    generate_archive(top / "archive", segments=args.segments, seed=0)
    root = top / "ws"
    init_workspace(root, [str(top / "archive" / "creator")], name="Synthetic Creator",
                   gold_labels=str(top / "archive" / "gold_labels.jsonl"))
    if not args.no_budget:
        config_path = root / "persona.yaml"
        config = yaml.safe_load(config_path.read_text())
        config["build"] = {"budget_tokens": args.budget}
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    ws = Workspace.open(root)
    times = {}
    started = time.perf_counter()
    run_pipeline(ws, log=print)
    times["pipeline"] = time.perf_counter() - started
    t0 = time.perf_counter()
    run_dir = train(ws, TrainSettings(persona_held_out=True), log=print)
    times["train"] = time.perf_counter() - t0
    times["raw_to_adapter"] = time.perf_counter() - started
    finish(ws, run_dir, times, args)
    return 0


def resume(top: Path, args) -> int:
    """Continue the latest (interrupted) run of top/ws; the pipeline time is not measured again."""
    from personatune import artifacts
    from personatune.train.runs import Settings as TrainSettings
    from personatune.train.runs import train
    from personatune.workspace import Workspace

    ws = Workspace.open(top / "ws")
    runs = sorted((ws.root / "runs").iterdir())
    # the resumed part: the steps after the run's last checkpoint (metrics after it are written again)
    start = max((int(p.name.split("-")[1]) for p in (runs[-1] / "checkpoints").glob("step-*")), default=0)
    t0 = time.perf_counter()
    run_dir = train(ws, TrainSettings(persona_held_out=True), resume="latest", log=print)
    seconds = time.perf_counter() - t0
    rows = [r for r in artifacts.read_jsonl(run_dir / "metrics.jsonl") if r.get("step", 0) >= start and "tokens" in r]
    rate = (rows[-1]["tokens"] - rows[0]["tokens"]) / sum(r["step_seconds"] for r in rows[1:])
    times = {"train": rows[-1]["tokens"] / rate, "train_resumed_part": seconds}
    finish(ws, run_dir, times, args)
    return 0


def finish(ws, run_dir: Path, times: dict, args) -> None:
    """Quick eval of the tuned model, and the record."""
    from personatune import artifacts
    from personatune.eval.evaluate import Settings as EvalSettings
    from personatune.eval.evaluate import evaluate

    root = ws.root
    t0 = time.perf_counter()
    folder = evaluate(ws, run_dir.name, EvalSettings(model="adapter", quick=True, variants=["tuned"]), log=print)
    times["quick_eval"] = time.perf_counter() - t0
    result = json.loads((folder / "eval.json").read_text())
    build_report = artifacts.read_json(ws.stage_dir("build") / "report.json")
    run_record = artifacts.read_json(run_dir / "run.json")
    record = {"segments": args.segments, "budget_tokens": None if args.no_budget else args.budget,
              "minutes": {k: round(v / 60, 2) for k, v in times.items()}, "target_minutes_raw_to_adapter": 30,
              "ratio": build_report["ratio"], "why": build_report["why"], "budget": build_report.get("budget"),
              "train_tokens": run_record.get("tokens"), "tokens_per_s": run_record.get("tokens_per_s"),
              "train_rows": build_report["rows"]["train"],
              "identity_recall": result["metrics"]["tuned"].get("identity_recall"),
              "identity_recall_interval": result["intervals"]["tuned"].get("identity_recall"),
              "probes": len([i for i in result["per_item"]["tuned"].get("identity", {})]),
              "cpu_count": os.cpu_count(), "workspace": str(root)}
    output = args.output or str(ROOT / "bench" / "results" / f"budget_archive{'-nobudget' if args.no_budget else ''}.json")
    artifacts.write_json(output, record)
    print(json.dumps(record["minutes"]), f"identity recall {record['identity_recall']}",
          f"interval {record['identity_recall_interval']}")


if __name__ == "__main__":
    sys.exit(main())
