"""Length drift: generated answer lengths against training answer lengths."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def length_drift(generated_lengths: Sequence[float], training_lengths: Sequence[float]) -> dict:
    """Generated answer lengths against training answer lengths (tokens or words, the same unit
    on both sides).

    median_ratio = median(generated) / median(training). Both samples are then divided by the
    training median; wasserstein = the 1-D earth mover's distance between the two empirical
    distributions (mean absolute shift, in training medians: answers all twice as long score
    about 1.0), ks = the Kolmogorov-Smirnov statistic (largest gap between the two CDFs, 0..1).
    Returns {"median_ratio", "generated_median", "training_median", "wasserstein", "ks",
    "n_generated", "n_training"}.
    """
    generated = np.sort(np.asarray(generated_lengths, dtype=np.float64))
    training = np.sort(np.asarray(training_lengths, dtype=np.float64))
    if not len(generated) or not len(training):
        raise ValueError("length_drift needs at least one generated and one training length")
    scale = float(np.median(training))
    if scale <= 0:
        raise ValueError("the training median length is 0")
    g, t = generated / scale, training / scale
    points = np.concatenate([g, t])
    points.sort()
    cdf_g = np.searchsorted(g, points, side="right") / len(g)
    cdf_t = np.searchsorted(t, points, side="right") / len(t)
    gaps = np.abs(cdf_g - cdf_t)
    return {"median_ratio": float(np.median(generated)) / scale,
            "generated_median": float(np.median(generated)), "training_median": scale,
            "wasserstein": float(np.sum(gaps[:-1] * np.diff(points))), "ks": float(gaps.max()),
            "n_generated": len(generated), "n_training": len(training)}
