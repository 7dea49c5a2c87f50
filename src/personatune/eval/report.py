"""The eval report: one self-contained HTML file (plots inlined as PNG) that says what the dial did.

Pictures first (persona scores against the failure signs, per variant; answer lengths against the
training answers), then the overfitting flags with what to do, then example answers side by side
with the passages and sources they should come from.
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

from personatune import artifacts

COLOURS = {"base": "#8c95a3", "prompt": "#b9a2e0", "rag": "#7fb8d8", "tuned": "#d9822b", "tuned+rag": "#c2452d"}
PERSONA_METRICS = [("identity_recall", "identity facts recalled"),
                   ("identity_recall_trained", "... whose segment it trained on"),
                   ("identity_recall_unseen", "... it never saw (retrieval only)"),
                   ("opinion_alignment", "opinion alignment"), ("transfer_voice", "voice in task transfer")]
FAILURE_METRICS = [("bleed_rate", "bleed (neutral prompts)"), ("copied_8gram_share", "copied 8-grams"),
                   ("exact_continuation_rate", "exact continuation"), ("invented_rate", "invented biography"),
                   ("general_accuracy", "general tasks correct")]


def pyplot():
    """matplotlib's pyplot on the file-only backend (no display on a server or in CI)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png(fig) -> str:
    """A figure as an inline data URL, so a report is one self-contained file."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    pyplot().close(fig)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def _bars(result: dict, metrics: list[tuple[str, str]], title: str) -> str | None:
    import numpy as np

    plt = pyplot()

    variants = result["variants"]
    shown = [(k, label) for k, label in metrics if any(result["metrics"].get(v, {}).get(k) is not None for v in variants)]
    if not shown:
        return None
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(shown) + 2), 3.4))
    width = 0.8 / len(variants)
    for n, variant in enumerate(variants):
        values = [result["metrics"].get(variant, {}).get(k) for k, _ in shown]
        xs = np.arange(len(shown)) + n * width - 0.4 + width / 2
        heights = [v if v is not None else 0 for v in values]
        lows, highs = [], []
        for (k, _), v in zip(shown, values):
            lo, hi = (result.get("intervals", {}).get(variant, {}).get(k) or [v, v]) if v is not None else [0, 0]
            lows.append(max(0.0, (v or 0) - lo))
            highs.append(max(0.0, hi - (v or 0)))
        ax.bar(xs, heights, width, label=variant, color=COLOURS.get(variant), yerr=[lows, highs], capsize=2,
               error_kw={"elinewidth": 0.8})
        for x, v in zip(xs, values):
            if v is None:
                ax.text(x, 0.01, "n/a", ha="center", va="bottom", fontsize=7, rotation=90, color="#777")
    ax.set_xticks(np.arange(len(shown)), [label for _, label in shown], fontsize=9)
    ax.set_ylim(0, 1.05)
    ax.set_title(title, fontsize=11)
    ax.legend(fontsize=8, ncols=len(variants), loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return png(fig)


def _lengths(result: dict) -> str | None:
    import numpy as np

    plt = pyplot()

    lengths = result.get("lengths") or {}
    training = lengths.get("training") or []
    if not training:
        return None
    fig, ax = plt.subplots(figsize=(7, 3.2))
    top = max([*training, *[x for v in result["variants"] for x in lengths.get(v, [])]] or [1])
    bins = np.linspace(0, top, 30)
    ax.hist(training, bins=bins, density=True, color="#dddddd", label="training answers")
    for variant in result["variants"]:
        if lengths.get(variant):
            ax.hist(lengths[variant], bins=bins, density=True, histtype="step", linewidth=1.6,
                    color=COLOURS.get(variant), label=variant)
    ax.set_xlabel("answer length (tokens)")
    ax.set_title("Length drift: persona answers against the training answers", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return png(fig)


def _nll(result: dict) -> str | None:
    import numpy as np

    plt = pyplot()

    rows = [(v, result["metrics"].get(v, {})) for v in ("base", "tuned")]
    keys = [("persona_nll", "held-out persona answers"), ("instruction_nll", "held-out instructional answers")]
    if not any(m.get(k) is not None for _, m in rows for k, _ in keys):
        return None
    fig, ax = plt.subplots(figsize=(6, 3))
    for n, (variant, metrics) in enumerate(rows):
        xs = np.arange(len(keys)) + (n - 0.5) * 0.38
        ax.bar(xs, [metrics.get(k) or 0 for k, _ in keys], 0.38, label=variant, color=COLOURS[variant])
    ax.set_xticks(np.arange(len(keys)), [label for _, label in keys], fontsize=9)
    ax.set_ylabel("mean NLL per token (lower = more likely)")
    ax.set_title("Likelihood of held-out answers", fontsize=11)
    ax.legend(fontsize=8, frameon=False)
    ax.spines[["top", "right"]].set_visible(False)
    return png(fig)


def _table(result: dict) -> str:
    names = sorted({k for v in result["variants"] for k in result["metrics"].get(v, {})})
    head = "".join(f"<th>{html.escape(v)}</th>" for v in result["variants"])
    rows = []
    for name in names:
        cells = []
        for variant in result["variants"]:
            value = result["metrics"].get(variant, {}).get(name)
            interval = result.get("intervals", {}).get(variant, {}).get(name)
            text = "" if value is None else f"{value:.3f}" + (f" <small>[{interval[0]:.2f}, {interval[1]:.2f}]</small>"
                                                            if interval else "")
            cells.append(f"<td>{text}</td>")
        definition = html.escape(result.get("definitions", {}).get(name, ""))
        rows.append(f"<tr><th title=\"{definition}\">{html.escape(name)}</th>{''.join(cells)}</tr>")
    return f"<table class=metrics><tr><th>metric</th>{head}</tr>{''.join(rows)}</table>"


def _flags(result: dict) -> str:
    items = []
    for flag in result.get("flags", []):
        state = "fired" if flag["fired"] else "ok"
        value = "n/a" if flag["value"] is None else f"{flag['value']:.3f}"
        items.append(f"<li class={state}><b>{html.escape(flag['flag'])}</b> ({html.escape(flag.get('measure', ''))}): "
                     f"{state} (value {value}, threshold {flag['threshold']})"
                     + (f" — {html.escape(flag['advice'])}" if flag["fired"] else "") + "</li>")
    return "<ul class=flags>" + "".join(items) + "</ul>"


def _examples(result: dict, answers: list[dict], items: dict, sets=("identity", "opinions", "neutral", "verbatim"),
              per_set: int = 4) -> str:
    by_key = {(a["set"], a["prompt_id"], a["variant"]): a for a in answers}
    blocks = []
    for name in sets:
        chosen = list(items.get(name, []))[:per_set]
        if not chosen:
            continue
        blocks.append(f"<h3>{html.escape(name)}</h3>")
        for item in chosen:
            cells = []
            for variant in result["variants"]:
                answer = by_key.get((name, item.id, variant))
                if answer is None:
                    continue
                extra = result.get("per_item", {}).get(variant, {}).get(name, {}).get(item.id, {})
                note = ", ".join(f"{k} {v:.2f}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in extra.items() if k in ("fact_recall", "alignment", "bleed", "copied",
                                                                     "invented", "terms"))
                passages = "".join(f"<li><i>{html.escape(p['where'])}</i>: {html.escape(p['text'][:220])}</li>"
                                   for p in answer.get("passages", [])[:2])
                cells.append(f"<div class=answer><div class=variant>{html.escape(variant)}</div>"
                             f"<p>{html.escape(answer['answer']) or '<i>(empty)</i>'}</p>"
                             f"<div class=note>{html.escape(note)}</div>"
                             + (f"<details><summary>passages</summary><ul>{passages}</ul></details>" if passages else "")
                             + "</div>")
            reference = (f"<div class=reference><b>the person's answer</b> ({html.escape(item.source)}): "
                         f"{html.escape(item.reference[:400])}</div>") if item.reference else ""
            expected = f" <small>expected: {html.escape(', '.join(item.expected))}</small>" if item.expected else ""
            blocks.append(f"<div class=example><div class=question>{html.escape(item.question)}{expected}</div>"
                          f"{reference}<div class=answers>{''.join(cells)}</div></div>")
    return "".join(blocks)


STYLE = """
body{font:15px/1.5 system-ui,sans-serif;margin:24px auto;max-width:1200px;padding:0 16px;color:#1c1f24}
h1{font-size:1.4rem} h2{margin-top:2em;font-size:1.15rem;border-bottom:1px solid #ddd}
img{max-width:100%} table.metrics{border-collapse:collapse;font-size:.9rem}
table.metrics td,table.metrics th{border:1px solid #e2e4e8;padding:3px 8px;text-align:right}
table.metrics th{text-align:left;background:#f6f7f9}
ul.flags li.fired{color:#b42318} ul.flags li.ok{color:#2e7d32}
.example{border:1px solid #e2e4e8;border-radius:8px;padding:10px;margin:10px 0}
.question{font-weight:600} .reference{background:#f6f7f9;padding:6px;margin:6px 0;font-size:.9rem}
.answers{display:grid;grid-template-columns:repeat(auto-fit,minmax(200px,1fr));gap:8px}
.answer{border-left:3px solid #ccc;padding-left:8px;font-size:.9rem} .variant{font-weight:600;color:#555}
.note{color:#777;font-size:.8rem} details{font-size:.8rem;color:#555}
"""


def write_report(folder: Path, result: dict, answers: list[dict], items: dict) -> Path:
    pictures = [p for p in (_bars(result, PERSONA_METRICS, "Who the model is: persona scores (higher is better)"),
                            _bars(result, FAILURE_METRICS, "The failure signs (bleed, copying, invention) and tasks"),
                            _lengths(result), _nll(result)) if p]
    echo = "".join(f"<li><b>{html.escape(v)}</b>: " + ", ".join(
        f"{html.escape(t['term'])} ({t['output_count']}x, {t['ratio']:.0f}x the sources)" for t in terms[:8]) + "</li>"
        for v, terms in result.get("term_echo", {}).items() if terms)
    page = (f"<!doctype html><html lang=en><meta charset=utf-8><title>personatune eval {html.escape(result.get('eval_id', ''))}"
            f"</title><style>{STYLE}</style><h1>Evaluation of run {html.escape(result.get('run_id', ''))}</h1>"
            f"<p>{len(answers)} answers, variants: {html.escape(', '.join(result['variants']))}; "
            f"greedy, {result.get('settings', {}).get('max_new_tokens', '?')} new tokens at most.</p>"
            + "".join(f"<img src=\"{p}\" alt=\"plot\">" for p in pictures)
            + "<h2>Overfitting signs</h2>" + _flags(result)
            + (f"<h2>Term echo</h2><ul>{echo}</ul>" if echo else "")
            + "<h2>Every metric</h2>" + _table(result)
            + "<h2>Example answers</h2>" + _examples(result, answers, items) + "</html>")
    path = Path(folder) / "report.html"
    artifacts.write_text(path, page)
    return path
