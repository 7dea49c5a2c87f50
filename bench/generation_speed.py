"""Generation speed: Hugging Face generate against llama.cpp on GGUF f16 and q8_0, same prompts, one run.

The GGUF files are written from the base model by personatune's own exporter (the weights do not
change the speed), so the bench needs no trained run. Every backend decodes greedily exactly
`--tokens` new tokens per prompt (min = max new tokens), so all do the same work; the figure is
new tokens per second of wall time including the prompt, the way a chat user waits for it.

    .venv/bin/python bench/generation_speed.py [--model smollm2-135m-instruct] [--tokens 128] [--prompts 6]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROMPTS = [
    "Tell me about the first tool you ever bought.",
    "How do you flatten the back of a chisel?",
    "Explain what a hash table is and when you would use one.",
    "Write a short note to a neighbour asking to borrow a ladder.",
    "What are three things to check before buying a used table saw?",
    "Summarise the plot of a heist film in four sentences.",
]


def measure(engine, prompts: list[str], tokens: int) -> dict:
    from personatune.runtime.generation import Settings

    settings = Settings(temperature=0.0, repetition_penalty=1.0, min_new_tokens=tokens, max_new_tokens=tokens)
    messages = [[{"role": "user", "content": p}] for p in prompts]
    engine.complete(messages[0], settings.updated(min_new_tokens=4, max_new_tokens=4))  # warm-up
    produced, started = 0, time.perf_counter()
    for m in messages:
        engine.complete(m, settings)
        produced += engine.last.completion_tokens
    seconds = time.perf_counter() - started
    return {"tokens": produced, "seconds": round(seconds, 2), "tokens_per_s": round(produced / seconds, 1)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m-instruct")
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--prompts", type=int, default=6)
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "generation_speed.json"))
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    import torch

    from personatune import artifacts
    from personatune.device import cpu_threads
    from personatune.export.gguf_export import base_gguf, read_safetensors
    from personatune.export.gguf_io import quantize, write_model
    from personatune.registry import load_model, materialize
    from personatune.runtime.gguf_engine import GGUFEngine
    from personatune.runtime.hf_engine import HFEngine
    from personatune.train.batches import ensure_chat_template

    prompts = PROMPTS[: args.prompts]
    torch.set_num_threads(cpu_threads())
    model, tokenizer = load_model(args.model, dtype=torch.float32)
    ensure_chat_template(tokenizer)
    results: dict = {}
    print(f"Hugging Face generate (fp32, {torch.get_num_threads()} threads) ...", flush=True)
    results["hf"] = measure(HFEngine(model, tokenizer, "hf"), prompts, args.tokens)
    print(f"  {results['hf']}", flush=True)
    del model
    with tempfile.TemporaryDirectory(prefix="personatune-genbench-") as tmp:
        f16 = write_model(read_safetensors(materialize(args.model)), base_gguf(args.model), Path(tmp) / "m-f16.gguf",
                          "f16", tokenizer.chat_template, args.model)
        files = {"gguf_f16": f16, "gguf_q8_0": quantize(f16, Path(tmp) / "m-q8_0.gguf", "q8_0", cpu_threads())}
        for name, path in files.items():
            print(f"llama.cpp {path.name} ({cpu_threads()} threads) ...", flush=True)
            results[name] = measure(GGUFEngine(path, context=1024), prompts, args.tokens)
            print(f"  {results[name]}", flush=True)
    base = results["hf"]["tokens_per_s"]
    for name in ("gguf_f16", "gguf_q8_0"):
        results[name]["speedup_vs_hf"] = round(results[name]["tokens_per_s"] / base, 2)
    record = {"model": args.model, "prompts": len(prompts), "new_tokens_per_prompt": args.tokens,
              "threads": cpu_threads(), "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
              "torch": torch.__version__, "results": results}
    print(f"q8_0 through llama.cpp: {results['gguf_q8_0']['speedup_vs_hf']}x Hugging Face generate "
          f"({results['gguf_q8_0']['tokens_per_s']} vs {base} tok/s); f16 {results['gguf_f16']['speedup_vs_hf']}x")
    artifacts.write_json(args.output, record)
    return 0


if __name__ == "__main__":
    sys.exit(main())
