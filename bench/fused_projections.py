"""Would one matmul for q/k/v (and one for gate/up) train faster than three (two)? Timed on this CPU.

    .venv/bin/python bench/fused_projections.py [--tokens 2048]

SmolLM2-135M's attention input projections are 576 -> 576, 192, 192 and its MLP's gate and up
576 -> 1536 each. Each pair is timed as the trainer uses it: a forward over `tokens` rows of x and the
backward to x (the frozen base weights need no gradient of their own), separately and as one product
on the concatenated weight, split after. Results: bench/results/fused_projections.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHAPES = {"q/k/v": (576, 192, 192), "gate/up": (1536, 1536)}


def milliseconds(tokens: int, hidden: int, outs: tuple[int, ...], fused: bool, reps: int) -> float:
    import torch
    import torch.nn.functional as F

    torch.manual_seed(0)
    x = torch.randn(tokens, hidden, requires_grad=True)
    weights = [torch.randn(n, hidden) * 0.02 for n in outs]
    joined = torch.cat(weights)

    def step():
        parts = F.linear(x, joined).split(list(outs), dim=-1) if fused else [F.linear(x, w) for w in weights]
        torch.autograd.grad(sum((p * p).sum() for p in parts), x)

    for _ in range(3):
        step()
    started = time.perf_counter()
    for _ in range(reps):
        step()
    return (time.perf_counter() - started) / reps * 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tokens", type=int, default=2048, help="rows per product (the trainer's token budget)")
    parser.add_argument("--reps", type=int, default=30)
    args = parser.parse_args()
    rows = []
    for name, outs in SHAPES.items():
        apart = milliseconds(args.tokens, 576, outs, False, args.reps)
        together = milliseconds(args.tokens, 576, outs, True, args.reps)
        rows.append({"projections": name, "outputs": outs, "separate_ms": round(apart, 2),
                     "fused_ms": round(together, 2), "speedup": round(apart / together, 3)})
        print(f"{name:8} separate {apart:6.2f} ms  fused {together:6.2f} ms  speedup {apart / together:.2f}x")
    out = HERE / "results" / "fused_projections.json"
    out.write_text(json.dumps({"tokens": args.tokens, "reps": args.reps, "results": rows}, indent=1) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
