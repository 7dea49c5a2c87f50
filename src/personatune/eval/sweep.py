"""`personatune sweep`: turn the replication dial and watch both failures.

For each ratio the build and dataset stages are re-run with that ratio (earlier stages stay cached),
a run is trained and evaluated. The dial plot puts what the ratio buys (identity, opinions) beside
what it costs (bleed, copying, task accuracy); the recommendation is the ratio with the best persona
score whose overfitting flags stay quiet. A generation grid on the recommended run shows how answer
length and repetition respond to temperature, repetition_penalty and min_new_tokens. The workspace's
own build and dataset outputs are restored at the end.

    DIR/sweeps/<id>/sweep.json   per ratio: run id, eval id, metrics, fired flags; the grid; the choice
    DIR/sweeps/<id>/sweep.html   the dial, the grid, the recommendation and its reasons
"""

from __future__ import annotations

import html
import itertools
import time
from pathlib import Path

import numpy as np

from personatune import artifacts
from personatune.errors import UserError
from personatune.eval.report import png
from personatune.workspace import Workspace

PERSONA_SCORE = ("identity_recall", "opinion_alignment")
COSTS = ("bleed_rate", "copied_8gram_share", "general_accuracy")
GRID_KEYS = ("temperature", "repetition_penalty", "min_new_tokens")


def parse_assignments(items: list[str] | None, what: str) -> dict[str, str]:
    """KEY=VALUE strings (values may hold commas: `variants=base,tuned`) -> dict."""
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"{what} {item!r} is not KEY=VALUE")
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def parse_grid(items: list[str] | None) -> dict[str, list[str]]:
    """`temperature=0.3,0.7 repetition_penalty=1.0,1.2` -> {name: [values]}, names checked."""
    grid = {k: [v for v in value.split(",") if v] for k, value in parse_assignments(items, "--gen").items()}
    unknown = sorted(set(grid) - set(GRID_KEYS) - {"top_p", "max_new_tokens"})
    if unknown:
        raise UserError(f"--gen: unknown setting(s) {', '.join(unknown)}; use {', '.join(GRID_KEYS)}")
    return grid


def persona_score(metrics: dict) -> float | None:
    values = [metrics.get(k) for k in PERSONA_SCORE if metrics.get(k) is not None]
    return float(np.mean(values)) if values else None


def recommend(rows: list[dict]) -> dict:
    """The ratio with the highest persona score among those with no fired flag; else the fewest fired flags."""
    scored = [r for r in rows if r.get("persona_score") is not None]
    if not scored:
        raise UserError("no ratio produced a persona score; check the probes")
    fewest = min(len(r["fired"]) for r in scored)
    pool = [r for r in scored if len(r["fired"]) == fewest]
    best = max(pool, key=lambda r: (r["persona_score"], -r["ratio"]))
    reasons = [f"persona score {best['persona_score']:.3f} (mean of {' and '.join(PERSONA_SCORE)}, tuned model)"]
    if fewest == 0:
        reasons.append("no overfitting flag fired at this ratio")
    else:
        reasons.append(f"every ratio fired at least {fewest} flag(s); this one fired {', '.join(best['fired'])}")
    quiet_better = [r for r in scored if r["ratio"] != best["ratio"] and r["persona_score"] > best["persona_score"]]
    for r in quiet_better:
        reasons.append(f"ratio {r['ratio']} scored higher ({r['persona_score']:.3f}) but fired "
                       f"{', '.join(r['fired'])}")
    return {"ratio": best["ratio"], "run_id": best["run_id"], "reasons": reasons}


def sweep(ws: Workspace, ratios: list[int], grid: dict[str, list[str]] | None = None,
          train_overrides: dict | None = None, eval_overrides: dict | None = None, log=print) -> Path:
    from personatune.data.runner import run_pipeline, run_stage
    from personatune.eval.evaluate import Settings as EvalSettings
    from personatune.eval.evaluate import evaluate
    from personatune.settings import resolve
    from personatune.train.runs import Settings as TrainSettings
    from personatune.train.runs import train, update_manifest

    if not ratios or any(r < 1 for r in ratios):
        raise UserError("--ratios needs whole numbers >= 1, e.g. --ratios 1,3,10,15")
    train_settings = resolve(TrainSettings, ws.section("train"), train_overrides, where=f"{ws.config_path} [train]")
    eval_settings = resolve(EvalSettings, ws.section("eval"), eval_overrides, where=f"{ws.config_path} [eval]")
    started = time.perf_counter()
    sweep_id = time.strftime("%Y%m%d-%H%M%S")
    run_pipeline(ws, until="pairs", log=log)  # the stages every ratio shares, cached after the first time
    rows = []
    try:
        for n, ratio in enumerate(sorted(set(ratios)), 1):
            log(f"--- ratio {ratio} ({n}/{len(set(ratios))}) ---")
            run_stage(ws, "build", {"ratio": str(ratio), "allow_over_cap": True}, log=log)
            run_stage(ws, "dataset", log=log)
            run_dir = train(ws, train_settings, log=log, progress=False)
            update_manifest(run_dir, sweep={"id": sweep_id, "ratio": ratio})
            prepare_model(ws, run_dir.name, eval_settings.model, log=log)
            folder = evaluate(ws, run_dir.name, eval_settings, log=log)
            result = artifacts.read_json(folder / "eval.json")
            tuned = result["metrics"].get("tuned", {})
            rows.append({"ratio": ratio, "run_id": run_dir.name, "eval_id": folder.name,
                         "tuned": tuned, "base": result["metrics"].get("base", {}),
                         "tuned_rag": result["metrics"].get("tuned+rag", {}),
                         "persona_score": persona_score(tuned),
                         "fired": sorted({f["flag"] for f in result["flags"] if f["fired"]})})
    finally:
        log("restoring the workspace's own build and dataset outputs")
        run_stage(ws, "build", log=log)
        run_stage(ws, "dataset", log=log)
    choice = recommend(rows)
    grid_rows = generation_grid(ws, choice["run_id"], grid, eval_settings, log=log) if grid else []
    record = {"sweep_id": sweep_id, "ratios": rows, "recommendation": choice, "grid": grid_rows,
              "train_overrides": train_overrides or {}, "eval_overrides": eval_overrides or {},
              "eval": "quick subset (--eval-set quick=true)" if eval_settings.quick else "full suite",
              "minutes": round((time.perf_counter() - started) / 60, 1)}
    folder = ws.root / "sweeps" / sweep_id
    with artifacts.atomic_dir(folder) as tmp:
        artifacts.write_json(tmp / "sweep.json", record)
        artifacts.write_text(tmp / "sweep.html", render(record))
    log(f"recommended ratio: {choice['ratio']} — " + "; ".join(choice["reasons"]) + f" (eval: {record['eval']})")
    log(f"sweep report: {folder / 'sweep.html'}")
    return folder


def prepare_model(ws: Workspace, run_id: str, model: str, log=print) -> None:
    """What the eval's `model` setting reads from a fresh run: its merged weights (the default), a GGUF export
    of them (`gguf[:QUANT]`), or nothing more (`adapter`)."""
    if model == "adapter":
        return
    from personatune.train.merge import merge

    merge(ws, run_id, log=log)
    if model == "gguf" or model.startswith("gguf:"):
        from personatune.export.gguf_export import export

        export(ws, run_id, quants=[model.partition(":")[2] or "q8_0"], adapter=False, log=log)


def _repetition(text: str) -> float:
    """Share of an answer's word 3-grams that repeat an earlier 3-gram of the same answer."""
    from personatune.eval.metrics.text import words

    tokens = words(text)
    grams = list(zip(tokens, tokens[1:], tokens[2:]))
    return 1 - len(set(grams)) / len(grams) if grams else 0.0


def generation_grid(ws: Workspace, run_id: str, grid: dict[str, list[str]], eval_settings, log=print) -> list[dict]:
    """Answer length and repetition on the persona probes and training questions, per setting combination."""
    from personatune.eval.evaluate import build_items
    from personatune.eval.metrics.identity import fact_recall
    from personatune.eval.metrics.length import length_drift
    from personatune.eval.score import items_rows
    from personatune.persona.prompting import Persona, Toggles
    from personatune.runtime.engines import open_engine
    from personatune.runtime.generation import Settings as GenSettings

    build = ws.stage_dir("build")
    train_rows = artifacts.read_jsonl(build / "train.jsonl")
    heldout = artifacts.read_jsonl(build / "heldout.jsonl") if (build / "heldout.jsonl").exists() else []
    items = build_items(ws, eval_settings, train_rows, heldout)
    probes = items["identity"] + items["opinions"] + items["verbatim"]
    training_lengths = [int(r.get("tokens") or len(r["answer"].split())) for r in items_rows(train_rows, items)]
    engine = open_engine(ws, "adapter", run=run_id, log=log)
    persona = Persona(ws, log=log)
    names = list(grid)
    rows = []
    for values in itertools.product(*(grid[k] for k in names)):
        combo = dict(zip(names, values))
        settings = GenSettings(max_new_tokens=eval_settings.verbatim_tokens).updated(**combo)
        prompts = [persona.prompt([{"role": "user", "content": i.question}], Toggles(False, False), engine, settings)
                   for i in probes]
        outs = engine.generate_batch([p.messages for p in prompts], settings, batch_size=eval_settings.batch_size)
        lengths = [n for _, n in outs]
        identity = [fact_recall(text, i.expected) for (text, _), i in zip(outs, probes) if i.set == "identity" and i.expected]
        row = {**combo, "median_tokens": float(np.median(lengths)),
               "length_median_ratio": length_drift(lengths, training_lengths)["median_ratio"] if training_lengths else None,
               "repetition": float(np.mean([_repetition(t) for t, _ in outs])),
               "identity_recall": float(np.mean(identity)) if identity else None}
        log("  " + ", ".join(f"{k}={v}" for k, v in combo.items()) + f": median {row['median_tokens']:.0f} tokens, "
            f"repetition {row['repetition']:.3f}")
        rows.append(row)
    return rows


def dial_plot(rows: list[dict]) -> str:
    from personatune.eval.report import pyplot

    plt = pyplot()

    ratios = [r["ratio"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.8), sharex=True)
    for key, label, colour in (("identity_recall", "identity facts recalled", "#c2452d"),
                               ("opinion_alignment", "opinion alignment", "#d9822b")):
        left.plot(ratios, [r["tuned"].get(key) for r in rows], "o-", color=colour, label=label)
    left.set_title("What the ratio buys (tuned model)", fontsize=11)
    for key, label, colour in (("bleed_rate", "bleed on neutral prompts", "#7b3294"),
                               ("copied_8gram_share", "copied 8-grams", "#008837"),
                               ("general_accuracy", "general tasks correct", "#2458c6")):
        right.plot(ratios, [r["tuned"].get(key) for r in rows], "o-", color=colour, label=label)
        base = [r["base"].get(key) for r in rows if r["base"].get(key) is not None]
        if base:
            right.axhline(float(np.mean(base)), color=colour, linestyle=":", linewidth=1)
    right.set_title("What it costs (dotted: base model)", fontsize=11)
    for ax in (left, right):
        ax.set_xlabel("persona replication ratio")
        ax.set_xscale("log")
        ax.set_xticks(ratios, [str(r) for r in ratios])
        ax.set_ylim(0, 1.05)
        ax.legend(fontsize=8, frameon=False)
        ax.spines[["top", "right"]].set_visible(False)
    return png(fig)


def grid_plot(grid_rows: list[dict]) -> str | None:
    from personatune.eval.report import pyplot

    plt = pyplot()

    if not grid_rows:
        return None
    keys = [k for k in grid_rows[0] if k in GRID_KEYS or k in ("top_p", "max_new_tokens")]
    labels = [", ".join(f"{k}={r[k]}" for k in keys) for r in grid_rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 0.35 * len(labels) + 1.6), sharey=True)
    ys = np.arange(len(labels))
    left.barh(ys, [r["length_median_ratio"] or 0 for r in grid_rows], color="#2458c6")
    left.axvline(1.0, color="#444", linestyle=":", linewidth=1)
    left.set_title("median answer length / training answers", fontsize=10)
    right.barh(ys, [r["repetition"] for r in grid_rows], color="#c2452d")
    right.set_title("repeated 3-grams within an answer", fontsize=10)
    left.set_yticks(ys, labels, fontsize=8)
    for ax in (left, right):
        ax.spines[["top", "right"]].set_visible(False)
    return png(fig)


def render(record: dict) -> str:
    rows = record["ratios"]
    choice = record["recommendation"]
    table = "".join(
        f"<tr><td>{r['ratio']}</td><td>{r['run_id']}</td>"
        + "".join(f"<td>{'' if r['tuned'].get(k) is None else format(r['tuned'][k], '.3f')}</td>"
                  for k in (*PERSONA_SCORE, *COSTS))
        + f"<td>{html.escape(', '.join(r['fired']) or 'none')}</td></tr>" for r in rows)
    head = "".join(f"<th>{k}</th>" for k in ("ratio", "run", *PERSONA_SCORE, *COSTS, "flags fired"))
    grid = grid_plot(record.get("grid") or [])
    return ("<!doctype html><html lang=en><meta charset=utf-8><title>personatune sweep</title>"
            "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:1150px;margin:24px auto;padding:0 16px}"
            "table{border-collapse:collapse}td,th{border:1px solid #ddd;padding:3px 8px}img{max-width:100%}</style>"
            f"<h1>Replication ratio sweep {html.escape(record['sweep_id'])}</h1>"
            f"<p><b>Recommended ratio: {choice['ratio']}</b> (run {html.escape(choice['run_id'])}); each ratio "
            f"evaluated with the {html.escape(record.get('eval', 'full suite'))}</p><ul>"
            + "".join(f"<li>{html.escape(r)}</li>" for r in choice["reasons"]) + "</ul>"
            f"<img src=\"{dial_plot(rows)}\" alt=\"the dial\">"
            + (f"<h2>Generation settings on the recommended run</h2><img src=\"{grid}\" alt=\"generation grid\">" if grid else "")
            + f"<h2>Per ratio</h2><table><tr>{head}</tr>{table}</table></html>")
