"""How fast can a turn of the dial be on this machine? The floor under training at the defaults.

    .venv/bin/python bench/training_floor.py --workspace WS [--ratios 1,3,10,30]

For each ratio, `build` and `dataset` run at that ratio in a copy of WS (WS itself is not touched), and
the tokens `personatune train` would train are counted step for step as it walks them: the deploy rows
encoded by its own `encode_rows`, the instructions it replays (`train.replay`, answers from WS's cache),
its batches and its token budget (a batch in parts computes the card once). Two times follow:

- the floor: tokens x FLOPs per token / this CPU's measured fp32 matmul rate. FLOPs per token are the
  frozen body's forward and input-gradient backward plus the LM head on labelled positions
  (`bench/train_throughput.py`); attention and LoRA's own products are left out, so no trainer on
  this machine can beat it;
- at the trainer's measured rate: the tokens/s of WS's latest finished run (counted as it counts them;
  at ratio 3 this reproduces that run's token count exactly when WS is at its defaults).

With the quick eval measured by `bench/eval_cycle.py`, the floor of one cycle (train + `eval --quick`)
and of the whole sweep follows. Results: bench/results/training_floor.json.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent
COPIED = ("persona.yaml", "persona_card.md", "data", "index", "cache")


def copy_workspace(source: Path, target: Path) -> None:
    """The workspace's config, stages, index and caches; its runs and evals stay behind."""
    target.mkdir(parents=True)
    for name in COPIED:
        path = source / name
        if path.is_dir():
            shutil.copytree(path, target / name)
        elif path.exists():
            shutil.copy2(path, target / name)


def latest_run(ws: Path, rate: float | None) -> dict:
    """WS's latest finished run, whose tokens/s the estimate uses; or `rate` where given."""
    if rate:
        return {"run_id": None, "tokens_per_s": rate}
    finished = [json.loads(p.read_text()) for p in sorted((ws / "runs").glob("*/run.json"))]
    finished = [r for r in finished if r.get("status") == "finished" and r.get("tokens_per_s")]
    if not finished:
        raise SystemExit(f"no finished training run in {ws}/runs: train once at the defaults first, or give --rate")
    return finished[-1]


def count_tokens(ws, settings, tokenizer) -> dict:
    """The tokens `train` would count over its steps (its own encoder, replay rows, batches and token
    budget, step for step), and those it computes: a batch split into parts computes the opening its rows
    share (template and card) once."""
    from personatune import artifacts
    from personatune.train.batches import (
        Example,
        collate,
        encode_rows,
        length_grouped_batches,
        opening_length,
        step_count,
        what_is_trained,
        within_token_budget,
    )
    from personatune.train.replay import replay_rows
    from personatune.train.runs import dataset_files

    train_path, _, _ = dataset_files(ws, settings.persona_held_out)
    rows = artifacts.read_jsonl(train_path)
    examples, _ = encode_rows(tokenizer, rows, settings.max_length, settings.overflow, str(train_path))
    replayed = replay_rows(ws.root / "cache" / "replay.jsonl", None, tokenizer, settings.base_model or ws.base_model,
                           rows, settings.replay, settings.seed, log=lambda _: None) if settings.replay else []
    extra, _ = encode_rows(tokenizer, replayed, settings.max_length, settings.overflow, "replay rows")
    examples += [Example(e.ids, e.prompt_len, len(rows) + e.index) for e in extra]
    steps = step_count(settings, len(examples))
    counted = computed = labelled = 0
    step = epoch = position = 0
    while step < steps:  # the loop's own walk over epochs (grad_accum 1, one process)
        batches = length_grouped_batches(examples, settings.batch_size, settings.seed, epoch)
        if position + 1 > len(batches):
            epoch, position = epoch + 1, 0
            continue
        batch = [examples[i] for i in batches[position]]
        position, step = position + 1, step + 1
        parts = within_token_budget(batch, settings.micro_batch_tokens)
        shared = opening_length(batch) if len(parts) > 1 else 0
        counted += sum(collate(part, 0)["tokens"] for part in parts)
        computed += sum(e.length for e in batch) - (len(parts) - 1) * shared
        labelled += sum(e.label_count for e in batch)
    served = what_is_trained(rows)[1]
    return {"rows": len(rows), "served_rows": served["gold"] + served["distractors"], "replay_rows": len(extra),
            "steps": steps, "counted_tokens": counted, "computed_tokens": computed, "labelled_tokens": labelled}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--ratios", default="1,3,10,30", help="0: the workspace's own build settings")
    parser.add_argument("--rate", type=float, default=None, help="tokens/s to estimate with (default: WS's latest run)")
    parser.add_argument("--output", type=Path, default=HERE / "results" / "training_floor.json")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(HERE))
    from train_throughput import flops_per_token, matmul_gflops

    from personatune.data.runner import run_stage
    from personatune.registry import load_model
    from personatune.settings import resolve
    from personatune.train.runs import Settings as TrainSettings
    from personatune.workspace import Workspace

    reference = latest_run(args.workspace, args.rate)
    measured_rate = float(reference["tokens_per_s"])
    quick = json.loads((HERE / "results" / "eval_cycle.json").read_text())["steps"]["quick_tuned"]["minutes"]
    gflops = matmul_gflops()
    rows = []
    with tempfile.TemporaryDirectory(prefix="pt-floor-") as tmp:
        copy = Path(tmp) / "ws"
        copy_workspace(args.workspace, copy)
        ws = Workspace.open(copy)
        settings = resolve(TrainSettings, ws.section("train"), None, where=str(ws.config_path))
        model, tokenizer = load_model(settings.base_model or ws.base_model)
        for ratio in [int(r) for r in args.ratios.split(",")]:
            flags = {"ratio": str(ratio), "allow_over_cap": True} if ratio else None
            run_stage(ws, "build", flags, log=lambda _: None)
            run_stage(ws, "dataset", log=lambda _: None)
            counted = count_tokens(ws, settings, tokenizer)
            per_token = flops_per_token(model, counted["labelled_tokens"] / counted["computed_tokens"])
            floor = counted["computed_tokens"] * per_token / (gflops * 1e9) / 60
            at_rate = counted["counted_tokens"] / measured_rate / 60
            rows.append({"ratio": ratio, **counted, "epochs": settings.epochs,
                         "mflop_per_token": round(per_token / 1e6, 1), "floor_minutes": round(floor, 1),
                         "minutes_at_measured_rate": round(at_rate, 1),
                         "cycle_floor_minutes": round(floor + quick, 1),
                         "cycle_minutes_at_measured_rate": round(at_rate + quick, 1)})
            r = rows[-1]
            print(f"ratio {ratio:3}: {r['rows']:5} rows ({r['served_rows']} served) + {r['replay_rows']} replayed, "
                  f"{r['steps']} steps, {r['computed_tokens']:,} tokens computed; floor {r['floor_minutes']:.1f} min, "
                  f"at {measured_rate:.0f} tokens/s {r['minutes_at_measured_rate']:.1f} min; with the quick eval "
                  f"({quick} min) {r['cycle_floor_minutes']:.1f} / {r['cycle_minutes_at_measured_rate']:.1f} min")
    sweep_floor = sum(r["cycle_floor_minutes"] for r in rows)
    sweep_rate = sum(r["cycle_minutes_at_measured_rate"] for r in rows)
    print(f"sweep over {args.ratios}: floor {sweep_floor:.1f} min, at the measured rate {sweep_rate:.1f} min")
    record = {"workspace": str(args.workspace), "matmul_gflops": round(gflops, 1),
              "measured_tokens_per_s": measured_rate, "reference_run": reference["run_id"],
              "quick_eval_minutes": quick, "ratios": rows, "sweep_floor_minutes": round(sweep_floor, 1),
              "sweep_minutes_at_measured_rate": round(sweep_rate, 1)}
    args.output.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
