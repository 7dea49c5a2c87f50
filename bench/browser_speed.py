"""Browser speed: the exported page in headless Chromium (onnxruntime-web, WASM) against llama.cpp q8_0.

Also records each file's greedy parity as the page itself checks it in the browser.

Same prompts, same token ids, greedy, exactly `--tokens` new tokens per prompt (min = max new
tokens), timed the way a chat user waits: prompt plus answer, wall time. The page is the real
export served by a static loopback server; each model file is loaded once and warmed up first.
llama.cpp runs the run's own q8_0 GGUF with all cores and with one thread (the page's WASM runs on
one thread unless the host sends cross-origin isolation headers; see docs/export.md, Publishing).

    .venv/bin/python bench/browser_speed.py [DIR] [--tokens 64] [--prompts 4] [--dtypes fp32,fp16,q8]

DIR (default demo-workspace) needs a trained run exported with `personatune export DIR` and
`personatune export DIR --web --web-dtypes fp32,fp16,q8`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT / "tests"), str(ROOT / "bench")]

from generation_speed import PROMPTS  # noqa: E402  (the same prompts as the generation bench)

VISITOR_QUESTION = "Where were you born, and what was your first real tool?"


def browser_speed(site_url: str, browser, dtype: str, prompts: list[list[int]], tokens: int) -> dict:
    page = browser.open(f"{site_url}?dtype={dtype}&device=wasm")
    page.wait_for("window.personatune && (personatune.ready || personatune.error)", timeout=600)
    error = page.evaluate("personatune.error")
    if error:
        raise RuntimeError(f"{dtype}: {error}")
    load = page.evaluate("personatune.loadSeconds")

    def run(ids: list[int], n: int) -> dict:
        page.evaluate(f"window.benchResult = null; personatune.generateIds({json.dumps(ids)}, "
                      f"{{min_new_tokens: {n}, max_new_tokens: {n}}}).then(r => window.benchResult = r), 1")
        return page.wait_for("window.benchResult", timeout=600)

    run(prompts[0], 4)  # warm-up
    produced, seconds = 0, 0.0
    for ids in prompts:
        result = run(ids, tokens)
        produced += len(result["tokens"])
        seconds += result["seconds"]
    # and the page's own parity check with the runtime just measured
    page.evaluate("personatune.checkParity(), 1")
    parity = page.wait_for("personatune.verify", timeout=900)
    page.call("Page.close")
    return {"tokens": produced, "seconds": round(seconds, 2), "tokens_per_s": round(produced / seconds, 1),
            "load_seconds": round(load, 1), "parity_identical": parity["identical"],
            "parity_prompts": len(parity["prompts"]), "parity_agreement": round(parity["agreement"], 2),
            "tokenizer_match": parity["tokenizer_match"]}


def visitor_turn(site_url: str, browser, dtype: str, question: str = VISITOR_QUESTION) -> dict:
    """Time to first token and decode speed of one question with everything on, as a visitor asks it."""
    page = browser.open(f"{site_url}?dtype={dtype}&device=wasm")
    page.wait_for("window.personatune && (personatune.ready || personatune.error)", timeout=600)
    page.evaluate(f"personatune.send({json.dumps(question)}), 1")
    page.wait_for("personatune.lastTiming && !personatune.busy", timeout=600)
    timing = page.evaluate("personatune.lastTiming")
    return {"dtype": dtype, "question": question, "prompt_tokens": timing["promptTokens"],
            "first_token_seconds": round(timing["firstTokenSeconds"], 1), "answer_tokens": len(timing["tokens"]),
            "decode_tokens_per_s": round(timing["tokensPerSecond"], 1), "passages": page.evaluate(
                "personatune.lastPassages.length")}


def llama_speed(path: Path, prompts: list[list[int]], tokens: int, threads: int) -> dict:
    from personatune.runtime.generation import Settings
    from personatune.runtime.gguf_engine import GGUFEngine

    engine = GGUFEngine(path, context=1024, threads=threads)
    settings = Settings(temperature=0.0, repetition_penalty=1.0, min_new_tokens=tokens, max_new_tokens=tokens)
    list(engine.tokens(prompts[0], settings.updated(min_new_tokens=4, max_new_tokens=4), 4))  # warm-up
    produced, started = 0, time.perf_counter()
    for ids in prompts:
        produced += len(list(engine.tokens(ids, settings, tokens)))
    seconds = time.perf_counter() - started
    return {"tokens": produced, "seconds": round(seconds, 2), "tokens_per_s": round(produced / seconds, 1),
            "threads": threads}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dir", nargs="?", default=str(ROOT / "demo-workspace"))
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--dtypes", default="fp32,fp16,q8")
    parser.add_argument("--output", default=str(ROOT / "bench" / "results" / "browser_speed.json"))
    args = parser.parse_args()

    from browser import Browser, find_chromium
    from serving import StaticFolder, running
    from transformers import AutoTokenizer

    from personatune import artifacts
    from personatune.device import cpu_threads
    from personatune.runtime.engines import export_dir
    from personatune.train.runs import find_run
    from personatune.workspace import Workspace

    ws = Workspace.open(args.dir)
    folder = export_dir(ws, find_run(ws, None))
    site_dir, gguf = folder / "web", folder / "persona-q8_0.gguf"
    if not (site_dir / "persona.json").exists() or not gguf.exists():
        print(f"run `personatune export {args.dir}` and `personatune export {args.dir} --web "
              f"--web-dtypes {args.dtypes}` first", file=sys.stderr)
        return 2
    page = json.loads((site_dir / "persona.json").read_text(encoding="utf-8"))
    available = {d["dtype"]: d for d in page["dtypes"]}
    tokenizer = AutoTokenizer.from_pretrained(site_dir / "models" / "persona")
    prompts = [tokenizer.apply_chat_template([{"role": "user", "content": p}], add_generation_prompt=True,
                                             tokenize=True, return_dict=False) for p in PROMPTS[: args.prompts]]
    results: dict = {}
    for threads in sorted({cpu_threads(), 1}, reverse=True):
        print(f"llama.cpp {gguf.name}, {threads} thread(s) ...", flush=True)
        results[f"llama_cpp_q8_0_{threads}t"] = llama_speed(gguf, prompts, args.tokens, threads)
        print(f"  {results[f'llama_cpp_q8_0_{threads}t']}", flush=True)
    site = StaticFolder(site_dir)
    browser = Browser(find_chromium())
    try:
        with running(site):
            for dtype in [d.strip() for d in args.dtypes.split(",") if d.strip()]:
                if dtype not in available:
                    print(f"skipping {dtype}: not in this export (add it with --web-dtypes)", flush=True)
                    continue
                print(f"Chromium WASM, {available[dtype]['file']} ({available[dtype]['bytes'] / 2**20:.0f} MiB) ...",
                      flush=True)
                results[f"browser_{dtype}"] = {**browser_speed(site.url, browser, dtype, prompts, args.tokens),
                                               "mib": round(available[dtype]["bytes"] / 2**20, 1)}
                print(f"  {results[f'browser_{dtype}']}", flush=True)
            # a visitor's turn with the page's defaults: card + retrieved passages in the prompt, sampling
            results["visitor_turn"] = visitor_turn(site.url, browser, page["default_dtype"])
            print(f"visitor turn: {results['visitor_turn']}", flush=True)
    finally:
        browser.close()
    reference = results[f"llama_cpp_q8_0_{cpu_threads()}t"]["tokens_per_s"]
    for name, row in results.items():
        if name.startswith("browser_"):
            row["vs_llama_cpp_q8_0"] = round(row["tokens_per_s"] / reference, 2)
    record = {"workspace": str(args.dir), "prompts": len(prompts), "new_tokens_per_prompt": args.tokens,
              "cpu_count": os.cpu_count(), "machine": platform.processor() or platform.machine(),
              "chromium": browser_version(), "results": results}
    artifacts.write_json(args.output, record)
    print(json.dumps(results, indent=1))
    return 0


def browser_version() -> str:
    import subprocess

    from browser import find_chromium

    done = subprocess.run([find_chromium(), "--version"], capture_output=True, text=True, check=False)
    return done.stdout.strip()


if __name__ == "__main__":
    sys.exit(main())
