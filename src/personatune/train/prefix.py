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


def empty_cache(module):
    """An empty key/value cache laid out for `module` (sliding-window layers where its config has them)."""
    from transformers import DynamicCache

    try:
        return DynamicCache(config=module.config)
    except TypeError:  # older transformers: no config argument
        return DynamicCache()


def prefill(module, ids):
    """Run `ids` (shape 1 x L) through `module` and return its key/value cache. Under no_grad or
    inference mode for generation; with gradients in training."""
    cache = empty_cache(module)
    module(input_ids=ids, use_cache=True, **{cache_argument(module): cache})
    return cache


def holds_whole(config, length: int) -> bool:
    """Whether every layer's key/value cache keeps `length` tokens: not where some layers attend through a
    sliding window shorter than that (Gemma 3's local layers, Mistral-style models)."""
    window = getattr(config, "sliding_window", None)
    if not window or getattr(config, "use_sliding_window", True) is False:
        return True
    types = getattr(config, "layer_types", None)
    return (types is not None and "sliding_attention" not in types) or length <= window


class SharedOpening:
    """The opening of a batch computed once for all its parts (`train.micro_batch_tokens`).

    Its keys and values are handed to each part as leaf tensors; each part's backward leaves its
    gradients on them, and `backward()` then runs once through the opening with their sum: the
    gradients of computing the opening inside every part, at the cost of computing it once.
    """

    def __init__(self, decoder, ids, grad: bool):
        import torch

        self.decoder = decoder
        self.length = ids.shape[1]
        self.kv, self.leaves, self.usable = [], [], False
        if not holds_whole(getattr(decoder, "config", None), self.length):
            return  # a window shorter than the opening: each part computes it, and nothing is computed twice
        with torch.set_grad_enabled(grad):
            cache = prefill(decoder, ids)
        layers = getattr(cache, "layers", None)
        # Usable only where every layer keeps the whole opening, in a transformers version whose cache has
        # layers.
        self.usable = bool(layers) and all(layer.keys.shape[-2] == self.length for layer in layers)
        self.kv = [(layer.keys, layer.values) for layer in layers] if self.usable else []
        self.leaves = [(k.detach().requires_grad_(grad), v.detach().requires_grad_(grad)) for k, v in self.kv]

    def cache(self, rows: int):
        """A fresh cache holding the opening for `rows` rows (views of the leaves: no copies)."""
        cache = empty_cache(self.decoder)
        for index, (k, v) in enumerate(self.leaves):
            cache.update(k.expand(rows, -1, -1, -1), v.expand(rows, -1, -1, -1), index)
        return cache

    def backward(self) -> None:
        import torch

        pairs = [(out, leaf.grad) for kv, leaves in zip(self.kv, self.leaves) for out, leaf in zip(kv, leaves)
                 if leaf.grad is not None and out.requires_grad]
        if pairs:
            torch.autograd.backward([out for out, _ in pairs], [grad for _, grad in pairs])
        self.kv, self.leaves = [], []


def hidden_after_prefix(decoder, ids, shared: int, frozen: int = 0, opening: SharedOpening | None = None):
    """Last hidden states of positions max(shared, frozen).. of every row of `ids` (B x T), the first
    `shared` tokens (the same in every row) computed once. The first `frozen` tokens (prompt tokens of
    every row: no position among them carries a label) are computed without gradients: the answer still
    attends to their keys and values, but no gradient flows back into how the prompt was read.
    `opening`: the first `shared` tokens already computed for the whole batch this part belongs to."""
    import torch

    start = max(shared, frozen)
    with torch.set_grad_enabled(torch.is_grad_enabled() and not frozen):
        if opening is not None:
            cache = opening.cache(ids.shape[0])
            if start > shared:
                decoder(input_ids=ids[:, shared:start], use_cache=True, **{cache_argument(decoder): cache})
        elif shared:
            cache = prefill(decoder, ids[:1, :shared])
            cache.batch_repeat_interleave(ids.shape[0])
            if start > shared:
                decoder(input_ids=ids[:, shared:start], use_cache=True, **{cache_argument(decoder): cache})
        else:
            cache = prefill(decoder, ids[:, :start])
    return decoder(input_ids=ids[:, start:], use_cache=True, **{cache_argument(decoder): cache}).last_hidden_state
