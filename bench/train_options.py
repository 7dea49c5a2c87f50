"""Training options that might buy speed: tokens/s and the validation loss each reaches in the same steps.

    .venv/bin/python bench/train_options.py --workspace WS [--steps 30] [--variants all,top15,top10,frozen-prompt]

Every variant trains SmolLM2-135M-Instruct with personatune's own loop (LoRA r=16, the same seed,
data order, schedule and steps) on the workspace's built dataset, and is scored by the same
validation-loss function. Variants:
- `all`: LoRA on every linear layer of every decoder layer (the default);
- `topN`: LoRA only on the top N decoder layers; the layers below get no adapter, so no gradient
  flows through them (their backward pass is skipped);
- `frozen-prompt`: `train.prompt_gradients: false`: the prompt tokens every row of a batch has
  (card, passages, question) are read without gradients, only the answer's positions are trained.
A change is worth keeping only if it is faster and its validation loss holds (within 1%).
Results: bench/results/train_options.json.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from train_throughput import evaluate  # noqa: E402  (a sibling script, not a package)

LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def lora_model(model_name: str, top: int, seed: int):
    import torch
    from peft import LoraConfig, get_peft_model

    from personatune.registry import load_model

    model, _ = load_model(model_name)
    layers = model.config.num_hidden_layers
    torch.manual_seed(seed)
    extra = {"layers_to_transform": list(range(layers - top, layers))} if 0 < top < layers else {}
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules=LINEAR, task_type="CAUSAL_LM", **extra)
    return get_peft_model(model, config)


def run_variant(name: str, args, train_examples, val_examples, pad_id: int) -> dict:
    import torch

    from personatune.train.loop import Dist, LoopConfig, Trainer

    top = int(name[3:]) if name.startswith("top") else 0
    model = lora_model(args.model, top, args.seed)
    cfg = LoopConfig(learning_rate=args.lr, warmup_steps=3, schedule="cosine", total_steps=args.steps,
                     batch_size=args.batch_size, grad_accum=1, seed=args.seed, eval_every=0, save_every=0,
                     early_stopping_patience=0, keep_checkpoints=1, prompt_gradients=name != "frozen-prompt")
    with tempfile.TemporaryDirectory() as out:
        trainer = Trainer(model, train_examples, val_examples, cfg, Path(out), torch.device("cpu"), pad_id,
                          Dist("cpu"), log=lambda _: None, progress=False)
        trainer.save_checkpoint = lambda reason: None
        started = time.perf_counter()
        state = trainer.train()
        seconds = time.perf_counter() - started
    return {"seconds": seconds, "tokens": state.tokens, "tokens_per_s": state.tokens / seconds,
            "val_loss": evaluate(model, val_examples, pad_id, args.batch_size)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True, help="a workspace with a built dataset")
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--variants", default="all,top15,top10,frozen-prompt")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--max-length", type=int, default=1536)
    parser.add_argument("--lr", type=float, default=2e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "train_options.json"))
    args = parser.parse_args()

    from personatune import artifacts
    from personatune.registry import load_tokenizer
    from personatune.train.batches import encode_rows

    tokenizer = load_tokenizer(args.model)
    data = Path(args.workspace) / "data" / "07-dataset" / "messages"
    train_examples, _ = encode_rows(tokenizer, artifacts.read_jsonl(data / "train.jsonl"), args.max_length,
                                    "truncate", "train")
    val_examples, _ = encode_rows(tokenizer, artifacts.read_jsonl(data / "validation.jsonl"), args.max_length,
                                  "truncate", "validation")
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    results = {}
    for name in args.variants.split(","):
        results[name] = run_variant(name, args, train_examples, val_examples, pad_id)
        base = results.get("all")
        versus = (f"  {results[name]['tokens_per_s'] / base['tokens_per_s']:.2f}x, val loss "
                  f"{results[name]['val_loss'] / base['val_loss'] - 1:+.1%} against all" if base else "")
        print(f"{name:>14}: {results[name]['tokens_per_s']:6.1f} tokens/s, val loss {results[name]['val_loss']:.4f}"
              f"{versus}", flush=True)
    artifacts.write_json(args.output, {"variants": results, "settings": vars(args), "cpus": os.cpu_count(),
                                       "train_rows": len(train_examples), "validation_rows": len(val_examples)})
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
