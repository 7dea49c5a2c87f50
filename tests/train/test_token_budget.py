"""A batch computed in parts under a token budget: every row once, each part within the budget, and
the same loss and gradients as the whole batch in one pass."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from personatune.train.batches import Example, collate, opening_length, within_token_budget
from personatune.train.dist import Dist
from personatune.train.loop import LoopConfig, Trainer
from personatune.train.prefix import MIN_SHARED_PREFIX


def rows(lengths: list[int], card: int = MIN_SHARED_PREFIX + 10) -> list[Example]:
    rng = random.Random(0)
    opening = [rng.randrange(1, 97) for _ in range(card)]
    out = []
    for i, n in enumerate(lengths):
        ids = opening + [rng.randrange(1, 97) for _ in range(n)]
        out.append(Example(ids=ids, prompt_len=card + n // 2, index=i))
    return out


def test_parts_cover_every_row_once_within_the_budget():
    batch = rows([40, 5, 90, 12, 60, 33, 7, 80])
    budget = 400
    parts = within_token_budget(batch, budget)
    assert sorted(e.index for part in parts for e in part) == list(range(8))
    for part in parts:
        area = len(part) * max(e.length for e in part)
        assert area <= budget or len(part) == 1
    assert len(parts) > 1
    assert within_token_budget(batch, 0) == [batch]  # 0: the whole batch at once
    too_long = rows([500])
    assert within_token_budget(too_long, 100) == [too_long]  # a row over the budget is still trained


def tiny_trainer() -> Trainer:
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
                         tie_word_embeddings=False)
    model = LlamaForCausalLM(config).float()
    model.lm_head.weight.requires_grad_(False)  # as under LoRA: the head is frozen
    cfg = LoopConfig(learning_rate=1e-3, warmup_steps=0, schedule="constant", total_steps=1, batch_size=8,
                     grad_accum=1, seed=0, eval_every=0, save_every=0, early_stopping_patience=0,
                     keep_checkpoints=1)
    return Trainer(model, [], [], cfg, Path("unused"), torch.device("cpu"), 0, Dist("cpu"), progress=False)


@pytest.mark.parametrize("prompt_gradients", [True, False])
def test_parts_give_the_loss_and_gradients_of_the_whole_batch(prompt_gradients):
    """With `prompt_gradients: false` the loss is the same but not the gradients: each part freezes the
    prompt up to its own shortest one, more of each row's prompt than the whole batch would."""
    trainer = tiny_trainer()
    trainer.cfg.prompt_gradients = prompt_gradients
    batch = rows([40, 36, 44, 30, 38])
    labels = sum(e.label_count for e in batch)

    whole = trainer.loss_sum(collate(batch, 0), 1 / labels)
    whole.backward()
    expected = {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}
    trainer.model.zero_grad()

    parts = within_token_budget(batch, 250)
    assert len(parts) >= 2 and any(len(part) >= 2 for part in parts)  # a part still shares the card
    total = 0.0
    for part in parts:
        loss = trainer.loss_sum(collate(part, 0), 1 / labels)
        loss.backward()
        total += float(loss.detach())
    assert total == pytest.approx(float(whole), rel=1e-5)
    if not prompt_gradients:
        return
    for name, p in trainer.model.named_parameters():
        if name in expected:
            assert torch.allclose(p.grad, expected[name], atol=1e-6, rtol=1e-4), name


@pytest.mark.parametrize("prompt_gradients", [True, False])
def test_an_opening_computed_once_for_all_parts_gives_the_gradients_of_each_part_computing_it(prompt_gradients):
    trainer = tiny_trainer()
    trainer.cfg.prompt_gradients = prompt_gradients
    batch = rows([40, 36, 44, 30, 38])
    parts = within_token_budget(batch, 250)
    labels = sum(e.label_count for e in batch)

    def grads() -> dict:
        return {n: p.grad.clone() for n, p in trainer.model.named_parameters() if p.grad is not None}

    each = 0.0  # every part computes the opening itself
    for part in parts:
        loss = trainer.loss_sum(collate(part, 0), 1 / labels)
        loss.backward()
        each += float(loss.detach())
    expected = grads()
    trainer.model.zero_grad()

    trainer.cfg.micro_batch_tokens = 250
    plan = trainer.plan(batch)  # the opening once, then the same parts
    assert len(plan.opening) == opening_length(batch) and len(plan.parts) == len(parts)
    once, tokens = trainer.backward(plan, 1 / labels)
    got = grads()
    assert tokens == sum(e.length for e in batch)
    assert opening_length(batch) == MIN_SHARED_PREFIX + 10
    assert once == pytest.approx(each, rel=1e-5)
    assert got.keys() == expected.keys()
    for name, grad in got.items():
        assert torch.allclose(grad, expected[name], atol=1e-6, rtol=1e-4), name


def test_an_opening_longer_than_a_sliding_window_is_not_computed_once_for_nothing(monkeypatch):
    from types import SimpleNamespace

    from personatune.train import prefix

    gemma = SimpleNamespace(sliding_window=16, layer_types=["sliding_attention", "full_attention"])
    assert not prefix.holds_whole(gemma, 40) and prefix.holds_whole(gemma, 16)
    assert prefix.holds_whole(SimpleNamespace(sliding_window=16, layer_types=["full_attention"]), 40)
    assert prefix.holds_whole(SimpleNamespace(sliding_window=16, use_sliding_window=False), 40)  # Qwen2's switch
    assert prefix.holds_whole(tiny_trainer().decoder.config, 10_000)  # Llama: no window

    def never(*_):
        raise AssertionError("the opening was computed although no part can use it")
    monkeypatch.setattr(prefix, "prefill", never)
    opening = prefix.SharedOpening(SimpleNamespace(config=gemma), torch.zeros(1, 40, dtype=torch.long), grad=True)
    assert not opening.usable and opening.leaves == []
