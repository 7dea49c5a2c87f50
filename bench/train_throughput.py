"""Training throughput: personatune's trainer against a plain transformers.Trainer + peft baseline.

Both run in this one process, on the same model, data, LoRA config, effective batch size, max
length, learning-rate schedule and number of steps. Prints real (non-padding) tokens/s of each,
their ratio, the validation loss each reaches (same evaluation function), and the fraction of the
FLOP ceiling (measured fp32 matmul GFLOP/s against FLOPs per trained token).

    .venv/bin/python bench/train_throughput.py [--workspace DIR] [--steps 30] [--batch-size 8]

Without --workspace it builds the bundled example persona's dataset in a temporary workspace.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def matmul_gflops(device: str = "cpu") -> float:
    import torch

    a = torch.randn(2048, 576, device=device)
    w = torch.randn(1536, 576, device=device)
    for _ in range(3):
        a @ w.t()
    if device == "cuda":
        torch.cuda.synchronize()
    started = time.perf_counter()
    reps = 20 if device == "cpu" else 500
    for _ in range(reps):
        a @ w.t()
    if device == "cuda":
        torch.cuda.synchronize()
    return 2 * 2048 * 576 * 1536 * reps / (time.perf_counter() - started) / 1e9


def flops_per_token(model, label_fraction: float) -> float:
    """Forward plus input-gradient backward of the frozen body (2 + 2 FLOPs per weight), and the
    LM head on labelled positions; LoRA's own matmuls are under 3% and left out."""
    config = model.config
    embed = config.vocab_size * config.hidden_size
    body = sum(p.numel() for n, p in model.named_parameters() if "lora_" not in n) - embed
    if not getattr(config, "tie_word_embeddings", False):
        body -= embed  # the untied head is counted separately below
    return 4 * body + 4 * config.hidden_size * config.vocab_size * label_fraction


def prepare_workspace(path: str | None) -> Path:
    from personatune.data.runner import run_pipeline
    from personatune.workspace import Workspace, init_workspace

    if path:
        return Path(path)
    root = Path(tempfile.mkdtemp(prefix="pt-bench-")) / "ws"
    examples = ROOT / "examples"
    init_workspace(root, [str(examples / "creator")], name="Marta Kowalczyk",
                   probes=str(examples / "probes.yaml"))
    run_pipeline(Workspace.open(root), log=lambda _: None)
    return root


def evaluate(model, examples, pad_id: int, batch_size: int, device: str = "cpu") -> float:
    import torch

    from personatune.train.batches import collate
    from personatune.train.loss import labelled_cross_entropy

    base = model.get_base_model()
    total, count = 0.0, 0
    order = sorted(range(len(examples)), key=lambda i: examples[i].length)
    model.eval()
    with torch.no_grad():
        for start in range(0, len(order), batch_size):
            batch = collate([examples[i] for i in order[start:start + batch_size]], pad_id)
            hidden = base.model(input_ids=batch["input_ids"].to(device)).last_hidden_state
            picked = hidden[batch["rows"].to(device), batch["cols"].to(device)]
            total += float(labelled_cross_entropy(picked, base.get_output_embeddings().weight,
                                                  batch["targets"].to(device)))
            count += len(batch["targets"])
    model.train()
    return total / count


def fresh_lora(args):
    import torch
    from peft import LoraConfig, get_peft_model

    from personatune.registry import load_model

    model, tokenizer = load_model(args.model)
    model.to(args.device)
    torch.manual_seed(args.seed)
    config = LoraConfig(r=args.r, lora_alpha=2 * args.r, lora_dropout=args.dropout, target_modules="all-linear",
                        task_type="CAUSAL_LM")
    return get_peft_model(model, config), tokenizer


def run_baseline(args, train_examples, val_examples, pad_id) -> dict:
    """The plain recipe: Trainer, random batches padded by DataCollatorForSeq2Seq, full logits."""
    import torch
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    model, tokenizer = fresh_lora(args)
    features = [{"input_ids": e.ids, "attention_mask": [1] * e.length,
                 "labels": [-100] * e.prompt_len + e.ids[e.prompt_len:]} for e in train_examples]
    counted = {"real": 0, "padded": 0}
    inner = DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100, return_tensors="pt")

    def collator(rows):
        batch = inner(rows)
        counted["real"] += int(batch["attention_mask"].sum())
        counted["padded"] += int(batch["attention_mask"].numel())
        return batch

    with tempfile.TemporaryDirectory() as out:
        training_args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=1,
            max_steps=args.steps, learning_rate=args.lr, lr_scheduler_type="cosine", warmup_steps=args.warmup,
            logging_steps=10, report_to=[], save_strategy="no", seed=args.seed, use_cpu=args.device == "cpu",
            dataloader_num_workers=0, remove_unused_columns=False, disable_tqdm=True)
        trainer = Trainer(model=model, args=training_args, train_dataset=features, data_collator=collator)
        started = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - started
    val = evaluate(model, val_examples, pad_id, args.batch_size, args.device)
    del trainer, model
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return {"seconds": seconds, "real_tokens": counted["real"], "padded_tokens": counted["padded"],
            "tokens_per_s": counted["real"] / seconds, "val_loss": val}


def run_ours(args, train_examples, val_examples, pad_id) -> dict:
    import torch

    from personatune.train.loop import Dist, LoopConfig, Trainer

    model, tokenizer = fresh_lora(args)
    cfg = LoopConfig(learning_rate=args.lr, warmup_steps=args.warmup, schedule="cosine", total_steps=args.steps,
                     batch_size=args.batch_size, grad_accum=1, seed=args.seed, eval_every=0, save_every=0,
                     early_stopping_patience=0, keep_checkpoints=1)
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, train_examples, val_examples, cfg, Path(out), torch.device(args.device), pad_id,
                          Dist(args.device),
                          log=lambda _: None, progress=False)
        trainer.save_checkpoint = lambda reason: None
        started = time.perf_counter()
        state = trainer.train()
        seconds = time.perf_counter() - started
    val = evaluate(model, val_examples, pad_id, args.batch_size, args.device)
    return {"seconds": seconds, "real_tokens": state.tokens, "tokens_per_s": state.tokens / seconds,
            "val_loss": val, "model": model}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", help="a workspace with a built dataset (default: the example persona)")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=320)
    parser.add_argument("--r", type=int, default=16)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "train_throughput.json"))
    args = parser.parse_args()

    import torch

    from personatune import artifacts
    from personatune.registry import load_tokenizer
    from personatune.train.batches import encode_rows

    ws = prepare_workspace(args.workspace)
    tokenizer = load_tokenizer(args.model)
    data = ws / "data" / "07-dataset" / "messages"
    train_examples, _ = encode_rows(tokenizer, artifacts.read_jsonl(data / "train.jsonl"), args.max_length,
                                    "truncate", "train")
    val_examples, _ = encode_rows(tokenizer, artifacts.read_jsonl(data / "validation.jsonl"), args.max_length,
                                  "truncate", "validation")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    gflops = matmul_gflops(args.device)
    print(f"{len(train_examples)} training examples, {args.steps} steps of {args.batch_size}; matmul {gflops:.0f} GFLOP/s",
          flush=True)
    baseline = run_baseline(args, train_examples, val_examples, pad_id)
    print(f"baseline (transformers.Trainer + peft): {baseline['tokens_per_s']:.1f} real tokens/s, "
          f"val loss {baseline['val_loss']:.4f}, padding {1 - baseline['real_tokens'] / baseline['padded_tokens']:.1%}",
          flush=True)
    ours = run_ours(args, train_examples, val_examples, pad_id)
    label_fraction = sum(e.label_count for e in train_examples) / sum(e.length for e in train_examples)
    per_token = flops_per_token(ours.pop("model"), label_fraction)
    for result in (baseline, ours):
        result["flop_fraction"] = result["tokens_per_s"] * per_token / (gflops * 1e9)
    ratio = ours["tokens_per_s"] / baseline["tokens_per_s"]
    loss_gap = ours["val_loss"] / baseline["val_loss"] - 1
    print(f"personatune:                           {ours['tokens_per_s']:.1f} real tokens/s, "
          f"val loss {ours['val_loss']:.4f}")
    print(f"speed-up {ratio:.2f}x (target >= 2.0x); val loss {loss_gap:+.2%} vs baseline (target <= +1%); "
          f"FLOP ceiling: ours {ours['flop_fraction']:.0%}, baseline {baseline['flop_fraction']:.0%} "
          f"({per_token / 1e6:.0f} MFLOP per token at {gflops:.0f} GFLOP/s)")
    result = {"baseline": baseline, "personatune": ours, "speedup": ratio, "val_loss_gap": loss_gap,
              "matmul_gflops": gflops, "mflop_per_token": per_token / 1e6, "settings": vars(args),
              "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
              "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "torch": torch.__version__,
                          "threads": torch.get_num_threads(), "python": sys.version.split()[0]}}
    artifacts.write_json(args.output, result)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
