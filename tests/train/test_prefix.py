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
