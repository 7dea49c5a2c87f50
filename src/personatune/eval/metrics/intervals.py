"""Confidence intervals: percentile and paired bootstrap, the Wilson score interval, and win
rates from blind side-by-side judgments."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np


def bootstrap_ci(values: Sequence[float], stat: Callable[[np.ndarray], float] = np.mean,
                 n: int = 2000, alpha: float = 0.05, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval: resample the values with replacement `n` times and take the
    alpha/2 and 1-alpha/2 quantiles of `stat`. NaNs are dropped first (probes that do not
    apply); no values gives (nan, nan), one value gives (v, v)."""
    data = np.asarray(values, dtype=np.float64)
    data = data[~np.isnan(data)]
    if not len(data):
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    stats = np.array([stat(data[rng.integers(0, len(data), len(data))]) for _ in range(n)])
    low, high = np.quantile(stats, [alpha / 2, 1 - alpha / 2])
    return float(low), float(high)


def paired_bootstrap_delta(a: Sequence[float], b: Sequence[float],
                           stat: Callable[[np.ndarray], float] = np.mean, n: int = 2000,
                           alpha: float = 0.05, seed: int = 0) -> dict:
    """Run b minus run a on the same probes: delta = stat(b) - stat(a), with a percentile interval
    from resampling probes (the same indices for both runs, which keeps the pairing) and a
    two-sided bootstrap p-value, 2 * min(share of deltas <= 0, share >= 0) capped at 1. Probes
    where either value is NaN are dropped. Returns {"delta", "low", "high", "p_value", "n"}."""
    x, y = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"paired values need the same probes: {len(x)} vs {len(y)}")
    keep = ~(np.isnan(x) | np.isnan(y))
    x, y = x[keep], y[keep]
    if not len(x):
        return {"delta": math.nan, "low": math.nan, "high": math.nan, "p_value": math.nan, "n": 0}
    rng = np.random.default_rng(seed)
    deltas = np.empty(n)
    for i in range(n):
        idx = rng.integers(0, len(x), len(x))
        deltas[i] = stat(y[idx]) - stat(x[idx])
    low, high = np.quantile(deltas, [alpha / 2, 1 - alpha / 2])
    p_value = min(1.0, 2 * min(np.mean(deltas <= 0), np.mean(deltas >= 0)))
    return {"delta": float(stat(y) - stat(x)), "low": float(low), "high": float(high),
            "p_value": float(p_value), "n": int(len(x))}


def wilson_interval(wins: float, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a win rate of wins/n (z = 1.96 for 95%); (0.0, 1.0) when n = 0.
    `wins` may be fractional: `win_rate` counts a tie as half a win."""
    if n <= 0:
        return 0.0, 1.0
    p = wins / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def win_rate(wins: int, losses: int, ties: int = 0, z: float = 1.96) -> dict:
    """Blind side-by-side judgments: rate = (wins + ties / 2) / (wins + losses + ties), a tie
    counting as half a win and half a loss, with its Wilson interval.
    Returns {"rate", "low", "high", "n"}."""
    n = wins + losses + ties
    score = wins + ties / 2
    low, high = wilson_interval(score, n, z)
    return {"rate": score / n if n else math.nan, "low": low, "high": high, "n": n}
