"""`personatune compare`: did run B move a metric against run A, or is it noise?

Two evals of the same variant are paired probe by probe (same set, same prompt id) and every
per-item metric gets B minus A with a 95% paired bootstrap interval (paired_bootstrap_delta).
A change counts as "better" or "worse" only when that interval excludes 0. Metrics that eval.json
holds only as one number (the NLLs, length drift) get the plain difference and no verdict: with a
single figure per eval there is nothing to resample.

A and B name an eval id, or a run id (or a prefix of either); a run stands for its latest eval.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from personatune.errors import UserError
from personatune.eval.metrics.intervals import paired_bootstrap_delta
from personatune.workspace import Workspace

EVAL_NAME = "eval.json"
CONFIDENCE = 0.95
HIGHER, LOWER, NEAR_ONE = "higher", "lower", "closer to 1"
BETTER, WORSE, UNCLEAR = "better", "worse", "no clear difference"
AGGREGATE_ONLY = "no interval (aggregate only)"


@dataclass(frozen=True)
class Metric:
    name: str
    key: str  # the per-item detail key score.py writes
    sets: tuple[str, ...]  # the sets it is read from; empty: every set that has the key
    better: str


# In the order the table shows them; keys and sets as score.py writes per_item.
PER_ITEM = (
    Metric("identity_recall", "fact_recall", ("identity",), HIGHER),
    Metric("invented_rate", "invented", ("identity", "opinions"), LOWER),
    Metric("contradiction_rate", "contradicts", ("identity",), LOWER),
    Metric("opinion_alignment", "alignment", ("opinions",), HIGHER),
    Metric("general_accuracy", "correct", ("general",), HIGHER),
    Metric("general_similarity", "alignment", ("general",), HIGHER),
    Metric("bleed_rate", "bleed", ("neutral",), LOWER),
    Metric("transfer_voice", "voice", ("transfer",), HIGHER),
    Metric("copied_8gram_share", "copied", ("verbatim",), LOWER),
    Metric("longest_copied_run", "longest_run", ("verbatim",), LOWER),
    Metric("exact_continuation_rate", "exact", ("verbatim",), LOWER),
    # written by judge.record when an eval ran with an LLM judge
    Metric("judge_persona_match", "judge_persona_match", (), HIGHER),
    Metric("judge_task_quality", "judge_task_quality", (), HIGHER),
)
AGGREGATE = {
    "persona_nll": LOWER,
    "instruction_nll": LOWER,
    "length_median_ratio": NEAR_ONE,
    "length_wasserstein": LOWER,
}


def compare(ws: Workspace | str | Path, a: str, b: str, variant: str = "tuned", n: int = 2000,
            seed: int = 0) -> dict:
    """B minus A for every metric of `variant`, paired on the probes both evals answered."""
    root = ws.root if isinstance(ws, Workspace) else Path(ws)
    first, second = load_eval(root, a), load_eval(root, b)
    for side in (first, second):
        if variant not in side["per_item"] and variant not in side["metrics"]:
            present = ", ".join(side.get("variants") or side["metrics"]) or "none"
            raise UserError(f"eval {side['eval_id']} has no variant {variant!r} (it has: {present}); "
                            "pick one with --variant")
    items_a, items_b = first["per_item"].get(variant) or {}, second["per_item"].get(variant) or {}
    shared = {(s, pid) for s, group in items_a.items() for pid in group} & \
             {(s, pid) for s, group in items_b.items() for pid in group}
    if not shared:
        raise UserError(f"evals {first['eval_id']} and {second['eval_id']} share no probes for variant {variant!r} "
                        "(no set and prompt id in both); compare evals of the same workspace and probes")
    rows = []
    for metric in PER_ITEM:
        x, y = _paired(items_a, items_b, shared, metric)
        if not x:
            continue  # neither eval measured it on a shared probe (e.g. no judge, no verbatim set)
        rows.append(_row(metric.name, metric.better, x, y, n, seed))
    figures_a, figures_b = first["metrics"].get(variant) or {}, second["metrics"].get(variant) or {}
    for name, better in AGGREGATE.items():
        va, vb = _number(figures_a.get(name)), _number(figures_b.get(name))
        if va is None and vb is None:
            continue
        delta = vb - va if va is not None and vb is not None else None
        rows.append({"metric": name, "better": better, "a": va, "b": vb, "delta": delta, "low": None, "high": None,
                     "p_value": None, "n": None, "verdict": AGGREGATE_ONLY, "leans": _leans(better, va, vb)})
    return {
        "variant": variant,
        "a": {"ref": a, "eval_id": first["eval_id"], "run_id": first.get("run_id")},
        "b": {"ref": b, "eval_id": second["eval_id"], "run_id": second.get("run_id")},
        "shared_probes": len(shared),
        "confidence": CONFIDENCE,
        "rows": rows,
    }


def _paired(items_a: dict, items_b: dict, shared: set, metric: Metric) -> tuple[list[float], list[float]]:
    x, y = [], []
    for name, pid in sorted(shared):
        if metric.sets and name not in metric.sets:
            continue
        va, vb = _number(items_a[name][pid].get(metric.key)), _number(items_b[name][pid].get(metric.key))
        if va is not None and vb is not None:
            x.append(va)
            y.append(vb)
    return x, y


def _row(name: str, better: str, x: list[float], y: list[float], n: int, seed: int) -> dict:
    d = paired_bootstrap_delta(x, y, n=n, alpha=1 - CONFIDENCE, seed=seed)
    if d["n"] < 2:
        verdict = "too few paired probes"
    elif d["low"] > 0 or d["high"] < 0:  # the interval excludes 0
        verdict = BETTER if (d["delta"] > 0) == (better == HIGHER) else WORSE
    else:
        verdict = UNCLEAR
    return {"metric": name, "better": better, "a": sum(x) / len(x), "b": sum(y) / len(y), "delta": d["delta"],
            "low": d["low"], "high": d["high"], "p_value": d["p_value"], "n": d["n"], "verdict": verdict,
            "leans": _leans(better, sum(x) / len(x), sum(y) / len(y))}


def _leans(better: str, a: float | None, b: float | None) -> str | None:
    """Which way B moved, judged by direction only (no significance): better, worse or same."""
    if a is None or b is None:
        return None
    if better == NEAR_ONE:
        a, b = -abs(a - 1), -abs(b - 1)
    elif better == LOWER:
        a, b = -a, -b
    return "same" if math.isclose(a, b, abs_tol=1e-12) else (BETTER if b > a else WORSE)


def _number(value) -> float | None:
    """A per-item detail as a number: bools are 0/1; None, NaN and non-numbers are missing."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and not math.isnan(value):
        return float(value)
    return None


# ---------------------------------------------------------------------------------------- finding evals


def eval_ids(root: Path) -> list[str]:
    """Finished evals, oldest first (ids are timestamps); "."-names are evals still being written."""
    folder = Path(root) / "eval"
    if not folder.is_dir():
        return []
    return sorted(d.name for d in folder.iterdir() if not d.name.startswith(".") and (d / EVAL_NAME).is_file())


def _read(root: Path, eval_id: str) -> dict:
    path = Path(root) / "eval" / eval_id / EVAL_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UserError(f"cannot read {path}: {exc}; run `personatune eval` again") from None
    if not isinstance(data, dict) or not isinstance(data.get("per_item"), dict) or \
            not isinstance(data.get("metrics"), dict):
        raise UserError(f"{path} is not a personatune eval (no per_item/metrics); run `personatune eval` again")
    data.setdefault("eval_id", eval_id)
    return data


def load_eval(root: Path, ref: str) -> dict:
    """The eval named by `ref`: an eval id, else a run id, else a unique prefix of one of them. A run
    stands for its latest eval."""
    root = Path(root)
    ids = eval_ids(root)
    if ref in ids:
        return _read(root, ref)
    evals = {}
    for eval_id in ids:
        try:
            evals[eval_id] = _read(root, eval_id)
        except UserError:
            continue  # a broken eval must not hide the others; naming it by id still says what is wrong
    ids = [e for e in ids if e in evals]
    runs_with_evals = sorted({e.get("run_id") for e in evals.values() if e.get("run_id")})
    run_matches = [r for r in runs_with_evals if r == ref] or [r for r in runs_with_evals if r.startswith(ref)]
    eval_matches = [e for e in ids if e.startswith(ref)]
    if len(run_matches) == 1 and (not eval_matches or run_matches[0] == ref):
        latest = [e for e in ids if evals[e].get("run_id") == run_matches[0]][-1]
        return evals[latest]
    if len(eval_matches) == 1 and not run_matches:
        return evals[eval_matches[0]]
    if run_matches or eval_matches:
        names = ", ".join([f"run {r}" for r in run_matches] + [f"eval {e}" for e in eval_matches])
        raise UserError(f"{ref!r} is ambiguous: it matches {names}; give more of the id")
    runs_dir = root / "runs"
    trained = sorted(p.name for p in runs_dir.iterdir() if (p / "run.json").exists()) if runs_dir.is_dir() else []
    trained_matches = [r for r in trained if r == ref or r.startswith(ref)]
    if len(trained_matches) == 1:
        raise UserError(f"run {trained_matches[0]} has no eval; run `personatune eval {root} --run "
                        f"{trained_matches[0]}` first")
    known = ", ".join(ids[-5:]) or "none"
    raise UserError(f"no eval or run {ref!r} in {root}; evals: {known} (runs need "
                    f"`personatune eval {root} --run ID` first)")


# ---------------------------------------------------------------------------------------- the table


def _fmt(value: float | None) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:.3f}"


def _signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def format_compare(result: dict) -> str:
    """An aligned table for the terminal: metric, A, B, delta [low, high], verdict."""
    a, b = result["a"], result["b"]

    def side(s: dict) -> str:
        return f"eval {s['eval_id']}" + (f" (run {s['run_id']})" if s.get("run_id") else "")

    lines = [f"variant {result['variant']}: A = {side(a)}, B = {side(b)}; {result['shared_probes']} shared probes"]
    table = [("metric", "better", "A", "B", "B - A [95% interval]", "n", "verdict")]
    for row in result["rows"]:
        if row["low"] is None:
            delta = _signed(row["delta"])
            verdict = row["verdict"] + (f", leans {row['leans']}" if row["leans"] in (BETTER, WORSE) else "")
        else:
            delta = f"{_signed(row['delta'])} [{_signed(row['low'])}, {_signed(row['high'])}]"
            verdict = row["verdict"]
        table.append((row["metric"], row["better"], _fmt(row["a"]), _fmt(row["b"]), delta,
                      "" if row["n"] is None else str(row["n"]), verdict))
    widths = [max(len(r[i]) for r in table) for i in range(len(table[0]))]
    right = {2, 3, 5}  # numbers line up on the right
    for r in table:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
        lines.append("  ".join(cells).rstrip())
    lines.append("A and B are means over the probes both evals answered; better/worse only where the paired "
                 "bootstrap interval excludes 0.")
    return "\n".join(lines)
