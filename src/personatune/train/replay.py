"""Replayed general instructions: the base model's own answers to the package's general prompts.

A fine-tune on one person's archive pulls the whole model toward that archive: at a learning rate that
teaches facts, general tasks collapse and the biography turns up in unrelated answers. `train.replay`
mixes N rows of ordinary instructions into training (`replay_prompts.yaml`, written for this project,
CC0, disjoint from the eval sets), each answered by the base model itself before training starts
(greedy), so those rows pull the model back toward what it did before. Each row carries the dataset's
own system prompt ("You are {name}."): being the person does not mean talking about their life in
every answer. Answers are cached per base model in `DIR/cache/replay.jsonl`, so a second run (or a
sweep point) generates nothing.
"""

from __future__ import annotations

import hashlib
import random
from importlib import resources

from personatune.artifacts import KeyedLog
from personatune.errors import UserError

MAX_NEW_TOKENS = 160
BATCH = 16


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


def answer(model, tokenizer, conversations: list[list[dict]]) -> list[str]:
    """Greedy answers of `model` (a fresh LoRA model is still exactly its base), left-padded batches."""
    import torch

    side, training = tokenizer.padding_side, model.training
    tokenizer.padding_side = "left"
    model.eval()
    device = next(model.parameters()).device
    out: list[str] = []
    try:
        for start in range(0, len(conversations), BATCH):
            texts = [tokenizer.apply_chat_template(c, tokenize=False, add_generation_prompt=True)
                     for c in conversations[start:start + BATCH]]
            batch = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(device)
            with torch.inference_mode():
                ids = model.generate(**batch, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, use_cache=True,
                                     pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
            width = batch["input_ids"].shape[1]
            out += [tokenizer.decode(row[width:], skip_special_tokens=True).strip() for row in ids]
    finally:
        tokenizer.padding_side = side
        model.train(training)
    return out


def replay_rows(cache_path, model, tokenizer, base_model: str, train_rows: list[dict], n: int, seed: int,
                log=print, save: bool = True) -> list[dict]:
    """N replay rows (a seeded choice of the prompts; all of them when N is larger), answers from the cache
    or generated now (written to the cache only where `save`: one process of several)."""
    if n <= 0:
        return []
    system = system_prompt(train_rows)
    if system is None:
        raise UserError("train.replay needs the dataset's system prompt, and no plain training row has one; "
                        "rebuild the dataset (`personatune build DIR`) or set train.replay: 0")
    prompts = load_prompts()
    chosen = random.Random(seed).sample(prompts, min(n, len(prompts)))
    cache = KeyedLog(cache_path)
    missing = [p for p in chosen if cache_key(base_model, p["prompt"]) not in cache]
    if missing:
        log(f"replay: the base model answers {len(missing)} general prompts (once per base model; cached in "
            f"{cache_path})")
        for start in range(0, len(missing), BATCH * 4):
            part = missing[start:start + BATCH * 4]
            answers = answer(model, tokenizer, [[{"role": "user", "content": p["prompt"]}] for p in part])
            done = [(cache_key(base_model, p["prompt"]), a) for p, a in zip(part, answers)]
            cache.put_many(done) if save else cache.entries.update(done)
            log(f"  {start + len(part)}/{len(missing)} answered")
    rows = []
    for p in chosen:
        reply = cache[cache_key(base_model, p["prompt"])]
        if reply:
            rows.append({"messages": [{"role": "system", "content": system}, {"role": "user", "content": p["prompt"]},
                                      {"role": "assistant", "content": reply}],
                         "metadata": {"label": "replay", "replay_id": p["id"]}})
    return rows
