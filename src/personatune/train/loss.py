"""Cross-entropy computed only where a label is, fused with the LM head and chunked.

A causal LM's head (576 x 49,152 for SmolLM2) is a large share of its compute, and a full
vocabulary of logits for every prompt token is pure waste when only the answer carries loss.
This computes logits for labelled positions only, a chunk of rows at a time, and works out the
gradient with respect to the hidden states during the forward pass, so the (tokens x vocab)
logits are never stored for backward.
"""

from __future__ import annotations

import torch


class _LabelledCrossEntropy(torch.autograd.Function):
    @staticmethod
    def forward(ctx, hidden, weight, targets, chunk_rows, softcap, scale, row_weights):
        # bf16/fp16 logits are upcast: a softmax over 49k entries needs fp32 to be accurate
        compute = torch.promote_types(hidden.dtype, torch.float32)
        total = hidden.new_zeros((), dtype=compute)
        grad_hidden = torch.empty_like(hidden) if hidden.requires_grad else None
        for start in range(0, hidden.shape[0], chunk_rows):
            h = hidden[start:start + chunk_rows]
            logits = (h @ weight.t()).to(compute)
            if softcap:
                capped = torch.tanh(logits / softcap)
                logits = capped * softcap
            target = targets[start:start + chunk_rows]
            # One fused log_softmax pass, then its exp in place is the softmax: each pass over a
            # (rows x 49k) block costs about as much as the head matmul on a CPU.
            log_probs = torch.log_softmax(logits, dim=-1)
            del logits
            w = None if row_weights is None else row_weights[start:start + chunk_rows, None].to(hidden.device, compute)
            picked = log_probs.gather(1, target[:, None])
            total -= (picked if w is None else picked * w).sum()
            if grad_hidden is not None:
                grad = log_probs.exp_()
                grad[torch.arange(len(target)), target] -= 1.0
                if w is not None:
                    grad *= w
                if softcap:
                    grad *= 1.0 - capped * capped
                grad_hidden[start:start + chunk_rows] = (grad.to(weight.dtype) @ weight).to(hidden.dtype)
        ctx.save_for_backward(grad_hidden if grad_hidden is not None else hidden.new_empty(0))
        ctx.scale = scale
        return total * scale

    @staticmethod
    def backward(ctx, grad_output):
        (grad_hidden,) = ctx.saved_tensors
        if grad_hidden.numel() == 0:
            return None, None, None, None, None, None, None
        return grad_hidden * (grad_output * ctx.scale).to(grad_hidden.dtype), None, None, None, None, None, None


def labelled_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, targets: torch.Tensor, *,
                           scale: float = 1.0, softcap: float | None = None, chunk_rows: int = 1024,
                           row_weights: torch.Tensor | None = None) -> torch.Tensor:
    """sum over rows of CE(hidden @ weight.T, targets) [* row_weights] * scale; gradient flows to `hidden` only.

    The head weight must be frozen (LoRA leaves it so); a trainable head needs the plain path.
    """
    if weight.requires_grad:
        raise ValueError("labelled_cross_entropy expects a frozen LM head")
    return _LabelledCrossEntropy.apply(hidden, weight, targets, chunk_rows, softcap or 0.0, scale, row_weights)
