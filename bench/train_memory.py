"""Peak memory and time of one training step on a workspace's longest batch, per token budget.

Each budget runs in a fresh process (peak RSS is per process): the model is loaded, the batch of
`batch_size` longest training rows (rows trained as served: template, card, passages, question) is
computed forward and backward under `train.micro_batch_tokens` = the budget, twice; the second step's
seconds and the process's peak RSS are printed, with the loss (it must not move with the budget).

    .venv/bin/python bench/train_memory.py --workspace WS [--budgets 0,4096,2048,1024] [--output FILE.json]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def one(workspace: Path, budget: int, batch_size: int) -> dict:
    from personatune import artifacts
    from personatune.device import pick_device
    from personatune.train.batches import encode_rows
    from personatune.train.dist import Dist
    from personatune.train.fast_lora import fast_lora
    from personatune.train.loop import LoopConfig, Trainer
    from personatune.train.runs import Settings, build_model, dataset_files
    from personatune.workspace import Workspace

    ws = Workspace.open(workspace)
    settings = Settings()
    device = pick_device("cpu", "auto", None)
    model, tokenizer, _ = build_model(ws.base_model, settings, device)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_path, _, _ = dataset_files(ws)
    examples, _ = encode_rows(tokenizer, artifacts.read_jsonl(train_path), settings.max_length, settings.overflow,
                              str(train_path))
    batch = sorted(examples, key=lambda e: -e.length)[:batch_size]
    cfg = LoopConfig(learning_rate=1e-3, warmup_steps=0, schedule="constant", total_steps=1, batch_size=batch_size,
                     grad_accum=1, seed=0, eval_every=0, save_every=0, early_stopping_patience=0,
                     keep_checkpoints=1, micro_batch_tokens=budget)
    trainer = Trainer(model, examples, [], cfg, Path("unused"), device.torch_device, pad, Dist("cpu"),
                      progress=False)
    labels = sum(e.label_count for e in batch)
    loaded_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    model.train()
    seconds, loss = [], 0.0
    with fast_lora(model):
        for _ in range(2):
            started = time.perf_counter()
            plan = trainer.plan(batch)
            loss, tokens = trainer.backward(plan, 1 / labels)
            model.zero_grad(set_to_none=True)
            seconds.append(time.perf_counter() - started)
    return {"budget": budget, "parts": len(plan.parts), "opening_once": len(plan.opening), "rows": len(batch), "tokens": tokens,
            "longest": max(e.length for e in batch), "loss": round(loss, 6), "step_seconds": round(seconds[-1], 2),
            "tokens_per_s": round(tokens / seconds[-1], 1), "peak_rss_mb": round(resource.getrusage(
                resource.RUSAGE_SELF).ru_maxrss / 1024), "after_load_mb": round(loaded_mb)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--budgets", default="0,4096,2048,1024")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--output")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # run one budget in this process
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(one(Path(args.workspace), args.one, args.batch_size)))
        return
    results = []
    for budget in (int(b) for b in args.budgets.split(",")):
        done = subprocess.run([sys.executable, __file__, "--workspace", args.workspace, "--one", str(budget),
                               "--batch-size", str(args.batch_size)], capture_output=True, text=True)
        if done.returncode:
            print(f"budget {budget}: failed (rc {done.returncode}): {done.stderr.strip().splitlines()[-1:]}")
            continue
        row = json.loads(done.stdout.strip().splitlines()[-1])
        results.append(row)
        print(f"budget {budget or 'none':>5}: {row['parts']} part(s), {row['step_seconds']:.1f} s/step "
              f"({row['tokens_per_s']:.0f} tok/s), peak RSS {row['peak_rss_mb'] / 1024:.1f} GB, loss {row['loss']:.5f}",
              flush=True)
    if args.output:
        from personatune import artifacts

        artifacts.write_json(Path(args.output), {"workspace": args.workspace, "batch_size": args.batch_size,
                                                 "results": results})


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "src"))
    main()
