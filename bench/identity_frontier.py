"""Every identity run on one persona, on one plot: what the tuned model states against what it loses.

    .venv/bin/python bench/identity_frontier.py [--person "Marta Kowalczyk"] [--dial shipped,shipped-seed1,...]

Reads the results `bench/identity.py` recorded (bench/results/identity-*.json) for one person and draws
identity recall (tuned, and tuned + card + retrieval) against general accuracy, one point per run, with
issue 15's target region shaded. Nothing is trained or generated here: the points are the runs already
measured, each labelled with the settings it differed in, so the plot shows the frontier the settings
tried so far sit on. With `--dial`, the runs named (the same settings but the ratio) are also drawn
against the persona ratio: the dial at those settings. Results: bench/results/identity_frontier.json,
identity_frontier.png and identity_dial.png.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TARGETS = {"tuned": 0.5, "tuned+rag": 0.75}
ACCURACY_MARGIN = 0.03


def describe(result: dict) -> str:
    """The settings a reader needs to tell the runs apart, short."""
    train = result.get("train_settings") or {}
    parts = [f"lr {train.get('learning_rate', 0):g}", f"{train.get('epochs', 1):g} ep"]
    if train.get("replay"):
        parts.append(f"replay {train['replay']}")
    served = (result.get("served") or {}).get("share")
    if served:
        parts.append(f"served {served:g}")
    if train.get("prompt_gradients") is False:
        parts.append("no prompt grads")
    if train.get("seed"):
        parts.append(f"seed {train['seed']}")
    return ", ".join(parts)


def point(name: str, result: dict) -> dict | None:
    metrics = result.get("metrics") or {}
    tuned, base = metrics.get("tuned") or {}, metrics.get("base") or {}
    if "identity_recall" not in tuned or tuned.get("general_accuracy") is None:
        return None
    train = result.get("train_settings") or {}
    return {"run": name, "settings": describe(result), "learning_rate": train.get("learning_rate"),
            "same_but_lr": "|".join(str(x) for x in (result.get("workspace"), train.get("epochs"), train.get("replay"),
                                                      (result.get("served") or {}).get("share"))), "base_model": result.get("base_model") or train.get("base_model")
            or ("gemma3-270m" if "gemma" in name else "smollm2-135m-instruct"),
            "workspace": result.get("workspace"), "ratio": result.get("ratio"),
            "tuned": round(tuned["identity_recall"], 3),
            "tuned+rag": round((metrics.get("tuned+rag") or {}).get("identity_recall", 0.0), 3),
            "accuracy": round(tuned["general_accuracy"], 3), "base_accuracy": round(base["general_accuracy"], 3),
            "bleed": round(tuned.get("bleed_rate", 0.0), 3), "base_bleed": round(base.get("bleed_rate", 0.0), 3),
            "copied": round(tuned["copied_8gram_share"], 3) if tuned.get("copied_8gram_share") is not None else None,
            "invented_with_retrieval": round((metrics.get("tuned+rag") or {}).get("invented_rate", 0.0), 3)}


def collect(person: str) -> list[dict]:
    points = []
    for path in sorted(RESULTS.glob("identity-*.json")):
        result = json.loads(path.read_text())
        if result.get("person") != person or result.get("quick"):
            continue
        found = point(path.stem.removeprefix("identity-"), result)
        if found:
            points.append(found)
    return points


def plot(points: list[dict], person: str, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    base_accuracy = max((p["base_accuracy"] for p in points if "gemma" not in p["base_model"]), default=0.0)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharex=True)
    for ax, variant in zip(axes, ("tuned", "tuned+rag")):
        floor = base_accuracy - ACCURACY_MARGIN
        ax.axhspan(TARGETS[variant], 1.0, xmin=0, xmax=1, color="#2ca02c", alpha=0.06)
        ax.add_patch(plt.Rectangle((floor, TARGETS[variant]), 1.0 - floor, 1.0 - TARGETS[variant], color="#2ca02c",
                                   alpha=0.18, label="issue 15's target"))
        ax.axvline(base_accuracy, color="grey", linestyle=":", linewidth=1, label=f"base accuracy {base_accuracy:.2f}")
        series: dict[str, list[dict]] = {}
        for p in points:
            series.setdefault(p["same_but_lr"], []).append(p)
        for members in series.values():
            if len({p["learning_rate"] for p in members}) == len(members) > 2:
                members = sorted(members, key=lambda p: p["learning_rate"])
                ax.plot([p["accuracy"] for p in members], [p[variant] for p in members], color="#ff7f0e",
                        linewidth=1, alpha=0.6, label="learning rate 2e-4 -> 5e-4 -> 1e-3, same data")
        for p in points:
            gemma = "gemma" in p["base_model"]
            ax.scatter(p["accuracy"], p[variant], s=40, marker="s" if gemma else "o",
                       color="#9467bd" if gemma else ("#1f77b4" if p["settings"].startswith("lr 0.001, 2 ep")
                                                      else "#ff7f0e"))
            ax.annotate(p["run"], (p["accuracy"], p[variant]), fontsize=6.5, xytext=(3, 2), textcoords="offset points")
        ax.set_xlim(0.1, 0.6)
        ax.set_ylim(0, 1)
        ax.set_xlabel("general accuracy of the tuned model")
        ax.set_ylabel(f"identity recall, {variant}")
        ax.set_title(f"{variant}: every run measured on {person}", fontsize=10)
        ax.legend(fontsize=7, loc="upper left")
    fig.text(0.01, 0.005, "blue: two epochs at lr 1e-3 (the defaults' family); orange: other settings; "
             "purple squares: gemma3-270m (its base cannot follow instructions: accuracy ~0.19)", fontsize=7)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(out)


def plot_dial(points: list[dict], out: Path) -> None:
    """Each metric against the persona ratio, for runs that differ only in it (seeds at one ratio side by side)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4.6))
    series = (("tuned", "identity recall, tuned", "#1f77b4"), ("tuned+rag", "identity recall, tuned+rag", "#2ca02c"),
              ("invented_with_retrieval", "invented biography, tuned+rag", "#d62728"),
              ("bleed", "bleed on neutral prompts, tuned", "#9467bd"), ("accuracy", "general accuracy, tuned", "#7f7f7f"),
              ("copied", "copied 8-grams, tuned (verbatim flag at 0.30)", "#ff7f0e"))
    ratios = sorted({p["ratio"] for p in points})
    for key, label, color in series:
        if any(p[key] is None for p in points):
            continue
        means = [sum(p[key] for p in points if p["ratio"] == r) / sum(p["ratio"] == r for p in points) for r in ratios]
        ax.plot(ratios, means, marker="o", color=color, label=label)
        ax.scatter([p["ratio"] for p in points], [p[key] for p in points], color=color, s=12, alpha=0.5)
    ax.axhline(points[0]["base_accuracy"], color="#7f7f7f", linestyle=":", linewidth=1, label="base accuracy")
    ax.set_xscale("log")
    ax.set_xticks(ratios, [f"{r}x" for r in ratios])
    ax.set_ylim(0, 1)
    ax.set_xlabel("persona ratio (copies of each persona row)")
    ax.set_title("the dial at the defaults (line: mean of the runs at a ratio; dots: each run)", fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    tmp = out.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--person", default="Marta Kowalczyk")
    parser.add_argument("--dial", default="", help="comma-separated runs (identity-<run>.json) that differ only in the ratio")
    args = parser.parse_args()
    points = collect(args.person)
    if not points:
        raise SystemExit(f"no identity results for {args.person!r} in {RESULTS}: run bench/identity.py first")
    stem = "identity_frontier" if args.person == "Marta Kowalczyk" else "identity_frontier-" + \
        args.person.lower().replace(" ", "-")
    for p in sorted(points, key=lambda p: p["accuracy"]):
        print(f"{p['run']:28} {p['settings']:42} tuned {p['tuned']:.2f}  tuned+rag {p['tuned+rag']:.2f}  "
              f"accuracy {p['accuracy']:.2f}  bleed {p['bleed']:.2f}")
    best = {v: max(points, key=lambda p: (p[v], p["accuracy"])) for v in TARGETS}
    report = {"person": args.person, "points": points,
              "best": {v: {"run": p["run"], "recall": p[v], "accuracy": p["accuracy"]} for v, p in best.items()},
              "targets": {**TARGETS, "accuracy": f"base - {ACCURACY_MARGIN}"}}
    named = [n for n in args.dial.split(",") if n]
    dial = [p for p in points if p["run"] in named]
    if len(dial) < len(named):
        missing = sorted(set(named) - {p["run"] for p in dial})
        raise SystemExit(f"--dial: no identity results named {', '.join(missing)} in {RESULTS}; run bench/identity.py")
    if dial:
        report["dial"] = [{k: p[k] for k in ("run", "ratio", "tuned", "tuned+rag", "invented_with_retrieval", "bleed",
                                             "copied", "accuracy")} for p in sorted(dial, key=lambda p: p["ratio"])]
        plot_dial(dial, RESULTS / "identity_dial.png")
    tmp = RESULTS / f"{stem}.json.tmp"
    tmp.write_text(json.dumps(report, indent=1) + "\n")
    tmp.replace(RESULTS / f"{stem}.json")
    plot(points, args.person, RESULTS / f"{stem}.png")
    print(f"wrote bench/results/{stem}.json and {stem}.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
