"""The default base model's answers to every replay prompt, shipped with the package.

    .venv/bin/python tools/ship_replay_answers.py [--from-cache WS/cache/replay.jsonl] [--model SPEC]

`train.replay` trains on the base model's own greedy answers to the package's general prompts
(`src/personatune/train/replay_prompts.yaml`). Answering 200 of them takes ~5 minutes on two cores,
once per workspace; shipping the default model's answers makes that zero. This answers every prompt
exactly as `train` would (`replay.answer`: greedy, MAX_NEW_TOKENS, None where the answer did not end),
reusing a workspace's cache where it has the answer already, and writes
src/personatune/train/replay_answers.json. Rerun it when the prompts, MAX_NEW_TOKENS or the default
model change (a test checks that every prompt has a shipped answer).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from personatune.artifacts import KeyedLog, write_text  # noqa: E402
from personatune.registry import DEFAULT_BASE, load_model  # noqa: E402
from personatune.train import replay  # noqa: E402

OUT = ROOT / "src" / "personatune" / "train" / replay.SHIPPED


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_BASE)
    parser.add_argument("--from-cache", type=Path, default=None, help="a workspace's cache/replay.jsonl to reuse")
    args = parser.parse_args()
    prompts = replay.load_prompts()
    keys = {p["id"]: replay.cache_key(args.model, p["prompt"]) for p in prompts}
    known = KeyedLog(args.from_cache) if args.from_cache else {}
    answers = {keys[p["id"]]: known[keys[p["id"]]] for p in prompts if keys[p["id"]] in known}
    missing = [p for p in prompts if keys[p["id"]] not in answers]
    print(f"{len(prompts)} prompts: {len(answers)} from the cache, {len(missing)} to answer")
    if missing:
        model, tokenizer = load_model(args.model)
        started = time.perf_counter()
        for start in range(0, len(missing), replay.BATCH):
            part = missing[start:start + replay.BATCH]
            texts = replay.answer(model, tokenizer, [[{"role": "user", "content": p["prompt"]}] for p in part])
            answers.update((keys[p["id"]], text) for p, text in zip(part, texts))
            print(f"  {start + len(part)}/{len(missing)} answered ({time.perf_counter() - started:.0f} s)")
    ordered = {keys[p["id"]]: answers[keys[p["id"]]] for p in prompts}
    record = {"base_model": args.model, "max_new_tokens": replay.MAX_NEW_TOKENS,
              "ended": sum(a is not None for a in ordered.values()), "answers": ordered}
    write_text(OUT, json.dumps(record, indent=0, ensure_ascii=False) + "\n")
    print(f"wrote {OUT.relative_to(ROOT)}: {record['ended']} of {len(ordered)} answers ended within "
          f"{replay.MAX_NEW_TOKENS} tokens")
    return 0


if __name__ == "__main__":
    sys.exit(main())
