"""Where the trainer's speed comes from: one change at a time, on the same batches, in one process.

    .venv/bin/python bench/train_ablation.py [--workspace DIR] [--batches 6]

Starting from peft's forward with a padding mask and transformers' full-vocabulary loss, each row
adds one of personatune's changes; the last row adds LoRA dropout back to show what it costs.
Also prints the padding of random batches (what a plain Trainer sees) against length-grouped ones.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))


def padding(examples, batches) -> float:
    real = sum(examples[i].length for b in batches for i in b)
    padded = sum(max(examples[i].length for i in b) * len(b) for b in batches)
    return 1 - real / padded


def main() -> None:
    import torch
    from peft import LoraConfig, get_peft_model
    from train_throughput import prepare_workspace

    from personatune import artifacts
    from personatune.registry import load_model
    from personatune.train.batches import collate, encode_rows, length_grouped_batches
    from personatune.train.fast_lora import fast_lora, lora_layers
    from personatune.train.loss import labelled_cross_entropy

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace")
    parser.add_argument("--batches", type=int, default=6)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "train_ablation.json"))
    args = parser.parse_args()

    ws = prepare_workspace(args.workspace)
    model, tokenizer = load_model("smollm2-135m-instruct")
    rows = artifacts.read_jsonl(ws / "data" / "07-dataset" / "messages" / "train.jsonl")
    examples, _ = encode_rows(tokenizer, rows, 320, "truncate", "train")
    grouped = length_grouped_batches(examples, args.batch_size, seed=0, epoch=0)
    order = list(range(len(examples)))
    random.Random(0).shuffle(order)
    randomly = [order[i:i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    pad_random, pad_grouped = padding(examples, randomly), padding(examples, grouped)
    print(f"padding: random batches {pad_random:.1%}, length-grouped {pad_grouped:.1%}")

    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear"))
    peft_model.train()
    base = peft_model.get_base_model()
    dropouts = {layer: layer.lora_dropout["default"] for layer in lora_layers(peft_model)}

    def set_dropout(on: bool) -> None:
        for layer, module in dropouts.items():
            layer.lora_dropout["default"] = module if on else torch.nn.Identity()

    def step(batch, mask: bool, labelled: bool) -> None:
        if labelled:
            hidden = base.model(input_ids=batch["input_ids"],
                                attention_mask=batch["attention_mask"] if mask else None).last_hidden_state
            picked = hidden[batch["rows"], batch["cols"]]
            loss = labelled_cross_entropy(picked, base.lm_head.weight, batch["targets"],
                                          scale=1 / len(batch["targets"]))
        else:
            labels = torch.full_like(batch["input_ids"], -100)
            labels[batch["rows"], batch["cols"] + 1] = batch["targets"]
            mask_tensor = batch["attention_mask"] if mask else None
            loss = peft_model(input_ids=batch["input_ids"], attention_mask=mask_tensor, labels=labels).loss
        loss.backward()
        peft_model.zero_grad(set_to_none=True)

    configs = [
        ("peft forward, padding mask, full-vocabulary loss", dict(mask=True, labelled=False, fast=False, dropout=False)),
        ("+ loss and head only at labelled positions", dict(mask=True, labelled=True, fast=False, dropout=False)),
        ("+ no mask (right padding, causal attention)", dict(mask=False, labelled=True, fast=False, dropout=False)),
        ("+ LoRA product inside one addmm (= personatune)", dict(mask=False, labelled=True, fast=True, dropout=False)),
        ("personatune with LoRA dropout 0.05", dict(mask=False, labelled=True, fast=True, dropout=True)),
    ]
    batches = [collate([examples[i] for i in b], tokenizer.pad_token_id or 0) for b in grouped[:args.batches + 1]]
    results = []
    for name, cfg in configs:
        set_dropout(cfg["dropout"])
        with fast_lora(peft_model) if cfg["fast"] else contextlib.nullcontext():
            step(batches[0], cfg["mask"], cfg["labelled"])  # warm-up
            started, tokens = time.perf_counter(), 0
            for batch in batches[1:]:
                step(batch, cfg["mask"], cfg["labelled"])
                tokens += batch["tokens"]
            rate = tokens / (time.perf_counter() - started)
        results.append({"config": name, "tokens_per_s": round(rate, 1)})
        print(f"{rate:7.1f} tokens/s  {name}", flush=True)
    artifacts.write_json(args.output, {"padding_random": pad_random, "padding_grouped": pad_grouped,
                                       "batches": args.batches, "batch_size": args.batch_size, "results": results})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
