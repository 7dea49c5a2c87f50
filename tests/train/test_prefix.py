"""A shared prefix computed once gives the hidden states and gradients of computing every row whole."""

from __future__ import annotations

import torch

from personatune.train.batches import Example, collate
from personatune.train.prefix import MIN_SHARED_PREFIX, hidden_after_prefix, shared_length


def tiny_decoder():
    from transformers import LlamaConfig, LlamaModel

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=97, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512)
    return LlamaModel(config).float()


def test_shared_length_counts_the_common_opening_and_ignores_short_ones():
    card = list(range(1, MIN_SHARED_PREFIX + 6))
    assert shared_length([card + [1, 2], card + [3]]) == len(card)
    assert shared_length([card + [1, 2], card + [3]], limit=len(card) - 2) == len(card) - 2
    assert shared_length([card[:10] + [1], card[:10] + [2]]) == 0  # too short to pay
    assert shared_length([card + [1]]) == 0  # one row: nothing to share


def test_prefix_once_equals_every_row_whole_in_values_and_gradients():
    decoder = tiny_decoder()
    prefix = torch.randint(1, 97, (1, MIN_SHARED_PREFIX + 20))
    ids = torch.cat([prefix.repeat(3, 1), torch.randint(1, 97, (3, 30))], dim=1)
    shared = prefix.shape[1]

    whole = decoder(input_ids=ids).last_hidden_state[:, shared:]
    whole.pow(2).mean().backward()
    grads = {n: p.grad.clone() for n, p in decoder.named_parameters() if p.grad is not None}
    decoder.zero_grad()

    once = hidden_after_prefix(decoder, ids, shared)
    once.pow(2).mean().backward()
    assert torch.allclose(once, whole, atol=1e-5)
    for name, p in decoder.named_parameters():
        if name in grads:
            assert torch.allclose(p.grad, grads[name], atol=1e-5, rtol=1e-4), name


def test_collate_shares_only_what_no_labelled_position_needs():
    card = list(range(1, MIN_SHARED_PREFIX + 11))
    a = Example(ids=card + [5, 6, 7, 8], prompt_len=len(card) + 1, index=0)
    b = Example(ids=card + [5, 9, 9], prompt_len=len(card) + 2, index=1)
    batch = collate([a, b], pad_id=0)
    assert batch["shared"] == len(card)  # the common "5" is past a's first labelled position
    assert int(batch["cols"].min()) >= batch["shared"]
    assert collate([a], pad_id=0)["shared"] == 0


def test_a_frozen_prompt_keeps_the_values_and_trains_only_through_the_answer():
    decoder = tiny_decoder()
    prefix = torch.randint(1, 97, (1, MIN_SHARED_PREFIX + 8))
    prompts = torch.randint(1, 97, (3, 12))  # each row's own passages and question
    ids = torch.cat([prefix.repeat(3, 1), prompts, torch.randint(1, 97, (3, 10))], dim=1)
    shared, frozen = prefix.shape[1], prefix.shape[1] + prompts.shape[1]

    whole = decoder(input_ids=ids).last_hidden_state[:, frozen:]
    whole.pow(2).mean().backward()
    full_grads = {n: p.grad.clone() for n, p in decoder.named_parameters() if p.grad is not None}
    decoder.zero_grad()

    for share in (shared, 0):  # with and without a shared opening
        part = hidden_after_prefix(decoder, ids, share, frozen)
        assert torch.allclose(part, whole, atol=1e-5)  # the same values
        part.pow(2).mean().backward()
        # no gradient reaches a token that only the prompt holds (computing everything, it does)
        only_prompt = sorted(set(ids[:, :frozen].flatten().tolist()) - set(ids[:, frozen:].flatten().tolist()))
        assert only_prompt and decoder.embed_tokens.weight.grad[only_prompt].abs().sum() == 0
        assert full_grads["embed_tokens.weight"][only_prompt].abs().sum() > 0
        assert not torch.allclose(decoder.layers[0].mlp.up_proj.weight.grad, full_grads["layers.0.mlp.up_proj.weight"])
        decoder.zero_grad()


def test_collate_marks_the_prompt_every_row_shares_in_position():
    a = Example(ids=[1, 2, 3, 4, 5, 6], prompt_len=4, index=0)
    b = Example(ids=[7, 8, 9, 5, 6], prompt_len=3, index=1)
    batch = collate([a, b], pad_id=0)
    assert batch["prompt"] == 2  # b's first labelled position is 2: positions 0-1 are prompt in both rows
    assert int(batch["cols"].min()) == batch["prompt"]
