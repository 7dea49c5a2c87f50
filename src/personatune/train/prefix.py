"""A token prefix every sequence of a batch shares, computed once and its keys/values copied to each.

Rows trained as served and prompts answered with the card all open with the chat template and the
persona card (~450 tokens of ~1,300). Training computes that prefix once per batch (gradients flow
back through the copies into the one computation) and generation once per call. The result is the
same as computing every sequence whole: causal attention means no prefix token ever sees the rest.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence

MIN_SHARED_PREFIX = 64  # below this, computing it once saves less than the copies cost


def shared_length(sequences: Sequence[Sequence[int]], limit: int | None = None) -> int:
    """How many leading tokens every sequence shares (at most `limit`), or 0 when that is under
    MIN_SHARED_PREFIX or there is only one sequence."""
    if len(sequences) < 2:
        return 0
    first = sequences[0]
    n = min(len(s) for s in sequences) if limit is None else min(limit, *(len(s) for s in sequences))
    k = 0
    while k < n and all(s[k] == first[k] for s in sequences):
        k += 1
    return k if k >= MIN_SHARED_PREFIX else 0


def cache_argument(module) -> str:
    """transformers 5 names the key/value cache `cache`; earlier versions `past_key_values`."""
    module = module.get_base_model() if hasattr(module, "get_base_model") else module
    return "cache" if "cache" in inspect.signature(type(module).forward).parameters else "past_key_values"


def prefill(module, ids):
    """Run `ids` (shape 1 x L) through `module` and return its key/value cache. Under no_grad or
    inference mode for generation; with gradients in training."""
    from transformers import DynamicCache

    try:
        cache = DynamicCache(config=module.config)
    except TypeError:  # older transformers: no config argument
        cache = DynamicCache()
    module(input_ids=ids, use_cache=True, **{cache_argument(module): cache})
    return cache


def hidden_after_prefix(decoder, ids, shared: int, frozen: int = 0):
    """Last hidden states of positions max(shared, frozen).. of every row of `ids` (B x T), the first
    `shared` tokens (the same in every row) computed once. The first `frozen` tokens (prompt tokens of
    every row: no position among them carries a label) are computed without gradients: the answer still
    attends to their keys and values, but no gradient flows back into how the prompt was read."""
    import torch

    start = max(shared, frozen)
    with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
        if shared:
            cache = prefill(decoder, ids[:1, :shared])
            cache.batch_repeat_interleave(ids.shape[0])
            if start > shared:
                decoder(input_ids=ids[:, shared:start], use_cache=True, **{cache_argument(decoder): cache})
        else:
            cache = prefill(decoder, ids[:, :start])
    return decoder(input_ids=ids[:, start:], use_cache=True, **{cache_argument(decoder): cache}).last_hidden_state
