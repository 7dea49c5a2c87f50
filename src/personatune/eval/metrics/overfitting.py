"""Overfitting flags: a tuned run against the base model on the same probes, with the
thresholds that raise each flag and what to do when it fires."""

from __future__ import annotations

import math
from dataclasses import dataclass

from personatune.settings import Settings, setting


@dataclass
class Thresholds(Settings):
    """When the eval report raises an overfitting flag (every comparison is strictly greater)."""

    bleed_increase: float = setting(0.10, help="bleed flag: tuned bleed rate minus base bleed rate above this")
    bleed_rate: float = setting(0.20, help="bleed flag: tuned bleed rate above this, whatever the base")
    copied_share: float = setting(0.30, help="verbatim flag: mean share of copied 8-grams above this")
    exact_continuation: float = setting(0.20, help="verbatim flag: exact-continuation rate above this")
    accuracy_drop: float = setting(0.10, help="task-collapse flag: base minus tuned general-instruction "
                                              "accuracy above this (absolute, accuracy in 0..1)")
    nll_increase: float = setting(0.10, help="task-collapse flag: tuned instructional NLL over base NLL, "
                                             "minus 1, above this (0.10 = 10 percent worse)")
    length_factor: float = setting(1.5, help="length-drift flag: median length ratio above this, or below "
                                             "its inverse")

    def problems(self) -> list[str]:
        out = [f"{name}={getattr(self, name)} must be >= 0" for name in
               ("bleed_increase", "bleed_rate", "copied_share", "exact_continuation", "accuracy_drop",
                "nll_increase") if getattr(self, name) < 0]
        if self.length_factor < 1:
            out.append(f"length_factor={self.length_factor} must be >= 1")
        return out


ADVICE = {
    "bleed": "the persona leaks into neutral answers: lower the persona ratio, or add more "
             "instructional/neutral data",
    "verbatim": "the model recites training answers: vary the questions (more distinct questions per "
                "persona segment), lower the ratio or the epochs",
    "task_collapse": "ordinary tasks got worse: add instructional data, lower the epochs or the "
                     "learning rate",
    "length_drift": "answer lengths drifted: check that every training answer ends with the "
                    "end-of-turn token and that max_length does not cut answers",
}


def flags(metrics: dict, base: dict, thresholds: Thresholds | None = None) -> list[dict]:
    """Overfitting flags for a tuned run against the base model on the same probes.

    Keys read (a flag whose keys are missing or None is left out):
      metrics["bleed_rate"], base["bleed_rate"]      share of neutral prompts whose answer bleeds
      metrics["copied_8gram_share"]                  mean `copied_ngram_share(n=8)` over verbatim probes
      metrics["exact_continuation_rate"]             share of verbatim probes with `exact_continuation`
      metrics["general_accuracy"], base[...]         share of built-in general instructions answered right
      metrics["instruction_nll"], base[...]          mean per-token NLL on held-out instructional pairs
      metrics["length_median_ratio"]                 `length_drift(...)["median_ratio"]`
    Rows: {"flag": "bleed" | "verbatim" | "task_collapse" | "length_drift", "measure", "fired",
    "value", "threshold", "advice"}; measures: bleed_rate_increase (tuned - base), bleed_rate,
    copied_8gram_share, exact_continuation_rate, general_accuracy_drop (base - tuned),
    instruction_nll_increase (tuned / base - 1), length_factor (max(ratio, 1 / ratio)).
    """
    t = thresholds or Thresholds()

    def get(d: dict, key: str) -> float | None:
        value = d.get(key)
        return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)

    bleed, base_bleed = get(metrics, "bleed_rate"), get(base, "bleed_rate")
    accuracy, base_accuracy = get(metrics, "general_accuracy"), get(base, "general_accuracy")
    nll, base_nll = get(metrics, "instruction_nll"), get(base, "instruction_nll")
    ratio = get(metrics, "length_median_ratio")
    candidates = [
        ("bleed", "bleed_rate_increase",
         None if bleed is None or base_bleed is None else bleed - base_bleed, t.bleed_increase),
        ("bleed", "bleed_rate", bleed, t.bleed_rate),
        ("verbatim", "copied_8gram_share", get(metrics, "copied_8gram_share"), t.copied_share),
        ("verbatim", "exact_continuation_rate", get(metrics, "exact_continuation_rate"), t.exact_continuation),
        ("task_collapse", "general_accuracy_drop",
         None if accuracy is None or base_accuracy is None else base_accuracy - accuracy, t.accuracy_drop),
        ("task_collapse", "instruction_nll_increase",
         None if nll is None or not base_nll else nll / base_nll - 1, t.nll_increase),
        ("length_drift", "length_factor",
         None if not ratio or ratio <= 0 else max(ratio, 1 / ratio), t.length_factor),
    ]
    return [{"flag": flag, "measure": measure, "fired": value > threshold, "value": value,
             "threshold": threshold, "advice": ADVICE[flag]}
            for flag, measure, value, threshold in candidates if value is not None]
