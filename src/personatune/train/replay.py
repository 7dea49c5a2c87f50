"""Replayed general instructions: the base model's own answers to the package's general prompts.

A fine-tune on one person's archive pulls the whole model toward that archive: at a learning rate that
teaches facts, general tasks collapse and the biography turns up in unrelated answers. `train.replay`
mixes N rows of ordinary instructions into training (`replay_prompts.yaml`, written for this project,
CC0, disjoint from the eval sets), each answered by the base model itself before training starts
(greedy), so those rows pull the model back toward what it did before. Each row carries the dataset's
own system prompt ("You are {name}."): being the person does not mean talking about their life in
every answer. The base model answers as it is, under its own default system prompt (SmolLM2's template
adds one); an answer that does not end within MAX_NEW_TOKENS (a tiny model looping, a pretrained one
running on into invented turns) is left out, as is any text after an invented user turn.
The default base model's answers ship with the package (`replay_answers.json`, written by
`tools/ship_replay_answers.py` with these same settings), so a new workspace generates nothing; another
base model answers once per workspace, cached in `DIR/cache/replay.jsonl`, so a second run (or a sweep
point) generates nothing. Each run keeps the rows it trained on in `runs/<id>/replay.jsonl`, and a
resumed run reads them from there.
"""

from __future__ import annotations

import hashlib
import json
import random
from functools import lru_cache
from importlib import resources

from personatune import artifacts
from personatune.artifacts import KeyedLog
from personatune.errors import UserError
from personatune.train.batches import USER_HEADER

MAX_NEW_TOKENS = 160
BATCH = 16
SHIPPED = "replay_answers.json"


def load_prompts() -> list[dict]:
    import yaml

    items = yaml.safe_load(resources.files("personatune.train").joinpath("replay_prompts.yaml").read_text())["items"]
    return [{"id": str(i["id"]), "prompt": str(i["prompt"])} for i in items]


def system_prompt(rows: list[dict]) -> str | None:
    """The system message the dataset's plain rows carry (the served ones carry the card)."""
    for row in rows:
        meta = row.get("metadata") or {}
        messages = row.get("messages") or []
        if not meta.get("served") and messages and messages[0].get("role") == "system":
            return messages[0]["content"]
    return None


def cache_key(base_model: str, prompt: str) -> str:
    return hashlib.sha256(f"{base_model}|{MAX_NEW_TOKENS}|{prompt}".encode()).hexdigest()[:24]


@lru_cache(maxsize=1)
def shipped_answers() -> dict[str, str | None]:
    """The answers that ship with the package, by `cache_key` (the key names the base model, so another
    model finds none of them)."""
    path = resources.files("personatune.train").joinpath(SHIPPED)
    return json.loads(path.read_text(encoding="utf-8"))["answers"] if path.is_file() else {}


def answer(model, tokenizer, conversations: list[list[dict]]) -> list[str | None]:
    """Greedy answers of `model` (a fresh LoRA model is still exactly its base), left-padded batches;
    None where the answer did not end within MAX_NEW_TOKENS."""
    import torch

    side, pad, training = tokenizer.padding_side, tokenizer.pad_token, model.training
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    generation_eos = getattr(model.generation_config, "eos_token_id", None)
    eos = {tokenizer.eos_token_id, *(generation_eos if isinstance(generation_eos, list) else [generation_eos])}
    eos_ids = sorted(i for i in eos if i is not None)
    model.eval()
    device = next(model.parameters()).device
    out: list[str | None] = []
    try:
        for start in range(0, len(conversations), BATCH):
            texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                     for c in conversations[start:start + BATCH]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.inference_mode():
                ids = model.generate(**batch, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, use_cache=True,
                                     eos_token_id=eos_ids, pad_token_id=tokenizer.pad_token_id)
            width = batch["input_ids"].shape[1]
            for row in ids[:, width:].tolist():
                text = tokenizer.decode(row, skip_special_tokens=True)
                finished = any(t in eos_ids for t in row) or f"\n{USER_HEADER}" in text  # an invented turn ends it
                text = text.split(f"\n{USER_HEADER}")[0].strip()
                out.append(text if finished and text else None)
    finally:
        tokenizer.padding_side, tokenizer.pad_token = side, pad
        model.train(training)
    return out


def rows_for_run(run_dir, cache_path, model, tokenizer, base_model: str, train_rows: list[dict], settings,
                 resumed: bool, dist, log=print) -> list[dict]:
    """The run's replay rows: read back from the run folder when it resumes; else made by the first
    process (the others receive them, so every process trains on the same rows)."""
    saved = run_dir / "replay.jsonl"
    if settings.replay <= 0:
        return []
    if resumed and saved.exists():
        return artifacts.read_jsonl(saved)
    rows = replay_rows(cache_path, model, tokenizer, base_model, train_rows, settings.replay, settings.seed,
                       log) if dist.main else None
    return dist.broadcast(rows)  # the caller keeps them in the run folder with its manifest


def replay_rows(cache_path, model, tokenizer, base_model: str, train_rows: list[dict], n: int, seed: int,
                log=print) -> list[dict]:
    """N replay rows (a seeded choice of the prompts; all of them when N is larger), answers from the
    workspace's cache, else the package's, else generated now; a prompt whose answer did not end is left out."""
    if n <= 0:
        return []
    system = system_prompt(train_rows)
    if system is None:
        raise UserError("train.replay needs the dataset's system prompt, and no plain training row has one; "
                        "rebuild the dataset (`personatune build DIR`) or set train.replay: 0")
    prompts = load_prompts()
    chosen = random.Random(seed).sample(prompts, min(n, len(prompts)))
    cache, shipped = KeyedLog(cache_path), shipped_answers()
    keys = {p["id"]: cache_key(base_model, p["prompt"]) for p in chosen}
    missing = [p for p in chosen if keys[p["id"]] not in cache and keys[p["id"]] not in shipped]
    if missing:
        log(f"replay: the base model answers {len(missing)} general prompts (once per base model; cached in "
            f"{cache_path})")
        for start in range(0, len(missing), BATCH * 4):
            part = missing[start:start + BATCH * 4]
            answers = answer(model, tokenizer, [[{"role": "user", "content": p["prompt"]}] for p in part])
            cache.put_many((keys[p["id"]], a) for p, a in zip(part, answers))
            log(f"  {start + len(part)}/{len(missing)} answered")
    rows = []
    for p in chosen:
        key = keys[p["id"]]
        reply = cache[key] if key in cache else shipped[key]
        if reply:
            rows.append({"messages": [{"role": "system", "content": system}, {"role": "user", "content": p["prompt"]},
                                      {"role": "assistant", "content": reply}],
                         "metadata": {"label": "replay", "replay_id": p["id"]}})
    if len(rows) < len(chosen):
        log(f"replay: {len(chosen) - len(rows)} of {len(chosen)} answers did not end within {MAX_NEW_TOKENS} tokens "
            "and are left out")
    return rows
