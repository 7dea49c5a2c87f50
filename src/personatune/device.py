"""Pick where to train: CUDA (bf16 where supported), Apple MPS, or the CPU (fp32, all cores)."""

from __future__ import annotations

import os
from dataclasses import dataclass

from personatune.errors import UserError


@dataclass(frozen=True)
class Device:
    type: str  # "cuda" | "mps" | "cpu"
    index: int | None
    dtype: str  # "float32" | "bfloat16" | "float16"

    @property
    def torch_device(self):
        import torch

        return torch.device(self.type if self.index is None else f"{self.type}:{self.index}")

    @property
    def torch_dtype(self):
        import torch

        return getattr(torch, self.dtype)


def pick_device(preference: str = "auto", precision: str = "auto", local_rank: int | None = None) -> Device:
    import torch

    cuda = torch.cuda.is_available()
    mps = getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available()
    kind = preference
    if preference == "auto":
        kind = "cuda" if cuda else "mps" if mps else "cpu"
    if kind == "cuda" and not cuda:
        raise UserError("device=cuda but no CUDA GPU is visible to PyTorch; use device: auto or cpu")
    if kind == "mps" and not mps:
        raise UserError("device=mps but Apple MPS is not available; use device: auto or cpu")
    if kind not in ("cuda", "mps", "cpu"):
        raise UserError(f"unknown device {preference!r}; use auto, cuda, mps or cpu")
    if precision == "auto":
        if kind == "cuda":
            precision = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            precision = "float32"  # CPUs without AVX512-BF16 run bf16 matmuls slower than fp32
    if precision not in ("float32", "bfloat16", "float16"):
        raise UserError(f"unknown precision {precision!r}; use auto, float32, bfloat16 or float16")
    index = None
    if kind == "cuda":
        index = local_rank if local_rank is not None else 0
        torch.cuda.set_device(index)
    if kind == "cpu":
        torch.set_num_threads(cpu_threads())
    return Device(kind, index, precision)


def cpu_threads() -> int:
    """CPU threads for this process: PERSONATUNE_THREADS or all cores, shared between torchrun ranks."""
    threads = int(os.environ.get("PERSONATUNE_THREADS", "0")) or (os.cpu_count() or 1)
    return max(1, threads // int(os.environ.get("WORLD_SIZE", "1")))
