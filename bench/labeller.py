"""The labeller against hand labels of real people: precision, recall and F1 of `persona`, per person and overall.

    python bench/labeller.py                 # every person in bench/data/labels/*.jsonl
    python bench/labeller.py --mirrors DIR   # where bare clones of the source repos live (owner+name/repo)
    python bench/labeller.py --reviews 0     # without the active-learning measurement

Each row of bench/data/labels/<person>.jsonl is one passage of a real archive with its hand label
(see GUIDE.md there). Passages whose licence forbids shipping text carry `text: null` and are cut
back out of their repository at the recorded commit (`git show COMMIT:SOURCE`, offsets, sha1 checked);
a person whose repository is not at hand is skipped and said so. Each person's passages go through
the label stage's cue pass and features as that person's archive.
The label stage's classifier is measured the honest way: trained (as tools/train_labeller.py trains the
shipped one) on every person but one and tested on that one, for each person in turn, with the stage's
rule (classifier probability, or a sure cue pass); then 20 segments of the held-out person are reviewed
the way `label --review` offers them (least sure first, the classifier adapting after each) and the
rest are scored again.
Results: bench/results/labeller.json and bench/results/labeller.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
LABELS = HERE / "data" / "labels"
RESULTS = HERE / "results"


def source_text(mirrors: Path, repo: str, commit: str, source: str, cache: dict) -> str | None:
    key = (repo, commit, source)
    if key not in cache:
        git_dir = mirrors / repo.replace("/", "+") / "repo"
        if not git_dir.exists():
            cache[key] = None
        else:
            data = subprocess.run(["git", f"--git-dir={git_dir}", "show", f"{commit}:{source}"],
                                  capture_output=True, check=False).stdout
            try:
                cache[key] = data.decode("utf-8")
            except UnicodeDecodeError:
                cache[key] = data.decode("cp1252", errors="replace")
    return cache[key]


def load_person(path: Path, mirrors: Path) -> tuple[list[dict], int]:
    """(passages with text, how many could not be rebuilt)."""
    rows, missing, cache = [], 0, {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.strip():
            continue
        row = json.loads(line)
        if row.get("text") is None:
            text = source_text(mirrors, row["repo"], row["commit"], row["source"], cache)
            passage = text[row["start"]:row["end"]] if text is not None else None
            if passage is None or hashlib.sha1(passage.encode()).hexdigest() != row["sha1"]:
                missing += 1
                continue
            row["text"] = passage
        rows.append(row)
    return rows, missing


def scores(truth: list[bool], predicted: list[bool]) -> dict:
    """The label stage's own precision / recall / F1 over passage positions."""
    from personatune.data.label import precision_recall

    result = precision_recall({i for i, p in enumerate(predicted) if p}, {i for i, t in enumerate(truth) if t})
    return {"passages": len(truth), "persona": result["gold"], "predicted": result["predicted"],
            **{k: result[k] for k in ("precision", "recall", "f1")}}


def person_matrix(rows: list[dict]):
    """The label stage's inputs for one person's passages: (features for the classifier, cue-pass scores)."""
    import numpy as np

    from personatune.data import label_model
    from personatune.data.label import Settings, cue_pass
    from personatune.data.label_cues import lexical_features

    settings = Settings()
    segments = [{"segment_id": f"p{n:05d}", "doc_id": r["source"], "text": " ".join(r["text"].split())}
                for n, r in enumerate(rows)]
    features = [lexical_features(s["text"]) for s in segments]
    cues = np.array([c[0] for c in cue_pass(segments, features, settings, [], log=lambda _: None)])
    x = label_model.features([s["text"] for s in segments], features, list(cues), list(cues >= settings.cue_threshold))
    return x, cues


def corpus(people: dict[str, list[dict]]):
    """(x, y, cue scores, person of each row) over every person."""
    import numpy as np

    parts = [person_matrix(people[name]) for name in people]
    x = np.vstack([p[0] for p in parts])
    cues = np.concatenate([p[1] for p in parts])
    y = np.array([r["label"] == "persona" for name in people for r in people[name]], dtype=np.float64)
    who = np.array([name for name in people for _ in people[name]])
    return x, y, cues, who


def decide(probability, cues, settings=None):
    """The label stage's rule: the classifier's probability, or a sure cue pass."""
    from personatune.data.label import Settings

    settings = settings or Settings()
    return (probability >= settings.persona_threshold) | (cues >= settings.cue_threshold)


def review_gain(model, x, y, cues, checkpoints: list[int]):
    """Active learning as `label --review` does it: decide the least sure segment, adapt, re-rank. Returns
    the truth of the passages never reviewed and the stage's decisions on them after each checkpoint's
    number of reviews."""
    import numpy as np

    from personatune.data import label_model
    from personatune.data.label import Settings

    settings = Settings()
    reviewed: list[int] = []
    snapshots = {0: model}
    adapted = model
    for step in range(1, max(checkpoints) + 1):
        p = adapted.predict(x)
        order = [i for i in np.argsort(np.abs(p - settings.persona_threshold)) if i not in reviewed]
        reviewed.append(int(order[0]))
        adapted = label_model.adapt(model, x[reviewed], y[reviewed], settings.adapt_strength)
        if step in checkpoints:
            snapshots[step] = adapted
    rest = np.array([i for i in range(len(y)) if i not in reviewed])
    return list(y[rest] > 0), {k: list(decide(m.predict(x[rest]), cues[rest])) for k, m in snapshots.items()}


def leave_one_person_out(people: dict[str, list[dict]], reviews: int = 20) -> dict:
    """The full labeller (classifier trained without the person + cue pass) on each person in turn."""
    import numpy as np

    from personatune.data import label_model
    from personatune.data.label import Settings

    x, y, cues, who = corpus(people)
    settings = Settings()
    cue_only = scores(list(y > 0), list(cues >= settings.cue_threshold))
    cue_by_person = {name: scores(list(y[who == name] > 0), list(cues[who == name] >= settings.cue_threshold))
                     for name in people}
    per_person, truth, predicted, pooled = {}, [], [], np.zeros(len(y))
    checkpoints = sorted({0, 5, 10, 20, 40, reviews}) if reviews else []
    review_before, review_after, pooled_truth, pooled_at = {}, {}, [], {k: [] for k in checkpoints}
    for name in people:
        held = who == name
        model = label_model.fit(x[~held], y[~held])
        pooled[held] = model.predict(x[held])
        guess = list(decide(pooled[held], cues[held], settings))
        per_person[name] = scores(list(y[held] > 0), guess)
        truth += list(y[held] > 0)
        predicted += guess
        if reviews:
            rest_truth, at = review_gain(model, x[held], y[held], cues[held], checkpoints)
            review_before[name], review_after[name] = scores(rest_truth, at[0]), scores(rest_truth, at[reviews])
            pooled_truth += rest_truth
            for k in checkpoints:
                pooled_at[k] += at[k]
    curve = {f"{t:.2f}": scores(truth, list(decide(pooled, cues, Settings(persona_threshold=t))))["f1"]
             for t in np.arange(0.3, 0.95, 0.05)}
    return {"per_person": per_person, "overall": scores(truth, predicted), "cue_pass_only": cue_only,
            "cue_pass_by_person": cue_by_person,
            "f1_by_threshold": curve, "reviews": reviews,
            "after_reviews": {"before": review_before, "after": review_after,
                              "overall_before": scores(pooled_truth, pooled_at[0]) if reviews else None,
                              "overall_after": scores(pooled_truth, pooled_at[reviews]) if reviews else None,
                              "f1_by_reviews": {k: scores(pooled_truth, pooled_at[k])["f1"] for k in checkpoints},
                              "scored_on": f"the passages of each person not among the first {max(checkpoints or [0])} "
                                           "reviewed"}}


def plot(report: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_person, reviewed = report["per_person"], report["after_reviews"]
    names = list(per_person)
    fig, (ax, curve, learning) = plt.subplots(1, 3, figsize=(14, 3.8), gridspec_kw={"width_ratios": [3, 1, 1]})
    width = 0.27
    bars = (("cue pass only (before)", report["cue_pass_by_person"]), ("labeller, person held out", per_person),
            (f"after {report['reviews']} reviews", reviewed["after"]))
    for k, (label, values) in enumerate(bars):
        if values:
            ax.bar([i + (k - 1) * width for i in range(len(names))], [values[n]["f1"] for n in names], width,
                   label=label)
    ax.axhline(0.8, color="#d62728", linestyle="--", linewidth=1, label="target F1 0.8")
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_ylabel("persona F1")
    ax.set_title("persona labeller on real people, leave one person out")
    ax.legend(fontsize=7, ncols=2, loc="upper left")
    thresholds = [float(t) for t in report["f1_by_threshold"]]
    curve.plot(thresholds, list(report["f1_by_threshold"].values()), marker="o")
    curve.set_xlabel("persona_threshold")
    curve.set_ylabel("overall F1")
    curve.set_ylim(0, 1)
    curve.set_title("threshold, held-out people", fontsize=9)
    by_reviews = reviewed.get("f1_by_reviews") or {}
    learning.plot([int(k) for k in by_reviews], list(by_reviews.values()), marker="o", color="#2ca02c")
    learning.set_xlabel("segments reviewed per person")
    learning.set_ylabel("overall F1")
    learning.set_ylim(0, 1)
    learning.set_title("active learning, held-out people", fontsize=9)
    fig.tight_layout()
    fig.savefig(RESULTS / "labeller.png", dpi=110)


def line(name: str, result: dict) -> str:
    return (f"{name:32} {result['passages']:5} passages, {result['persona']:4} persona: precision "
            f"{result['precision']:.2f} recall {result['recall']:.2f} F1 {result['f1']:.2f}")


def load_people(mirrors: Path) -> tuple[dict[str, list[dict]], dict[str, int]]:
    people, skipped = {}, {}
    for path in sorted(LABELS.glob("*.jsonl")):
        rows, missing = load_person(path, mirrors)
        if missing:
            skipped[path.stem] = missing
        if rows:
            people[path.stem] = rows
    return people, skipped


def add_mirrors_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--mirrors", type=Path, default=Path(os.environ.get("PERSONATUNE_MIRRORS", "/work/.mirror")),
                        help="where bare clones of the source repositories live (owner+name/repo)")


def whole_corpus(mirrors: Path, purpose: str) -> dict[str, list[dict]] | None:
    """Every person's passages, or None (said on stderr) when any passage could not be rebuilt."""
    people, skipped = load_people(mirrors)
    if skipped:
        print(f"refusing to {purpose} on part of the corpus: not rebuilt {skipped}; clone the repositories first "
              "(bench/data/labels/README.md)", file=sys.stderr)
        return None
    return people


def agreement(people: dict[str, list[dict]]) -> dict | None:
    """The corpus's labels against a second, independent labelling of a sample (the ceiling of any labeller)."""
    path = LABELS / "agreement" / "second_labels.jsonl"
    if not path.exists():
        return None
    truth, second, per_person = [], [], {}
    for line in path.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        name, index = row["id"].rsplit("/", 1)
        if name not in people:
            continue
        first = people[name][int(index)]["label"] == "persona"
        truth.append(first)
        second.append(row["label"] == "persona")
        per_person.setdefault(name, ([], []))
        per_person[name][0].append(first)
        per_person[name][1].append(row["label"] == "persona")
    return {"overall": scores(truth, second), "per_person": {n: scores(*pair)["f1"] for n, pair in per_person.items()}}


def main() -> int:
    from personatune.data.label import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_mirrors_argument(parser)
    parser.add_argument("--reviews", type=int, default=20, help="reviewed segments per held-out person (0: none)")
    args = parser.parse_args()
    people, skipped = load_people(args.mirrors)
    if skipped:
        print(f"not rebuilt (repository not under {args.mirrors}): {skipped}")
    report = leave_one_person_out(people, args.reviews)
    report["not_rebuilt"] = skipped
    report["second_labelling"] = agreement(people)
    for name in people:
        print(line(name, report["per_person"][name]))
        if args.reviews:
            before, after = (report["after_reviews"][k][name] for k in ("before", "after"))
            print(f"{'':32} after {args.reviews} reviews: F1 {before['f1']:.2f} -> {after['f1']:.2f} "
                  f"(on the {after['passages']} passages never reviewed)")
    print(line("overall, people held out", report["overall"]))
    if args.reviews:
        print(line("  same, without the reviewed", report["after_reviews"]["overall_before"]))
        print(line(f"  after {args.reviews} reviews each", report["after_reviews"]["overall_after"]))
    print(line("cue pass only (the old labeller)", report["cue_pass_only"]))
    if report["second_labelling"]:
        print(line("a second labelling (the ceiling)", report["second_labelling"]["overall"]))
    print("F1 by threshold:", report["f1_by_threshold"], f"(default {Settings().persona_threshold})")
    if args.reviews:
        print("F1 by reviews per person:", report["after_reviews"]["f1_by_reviews"])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "labeller.json").write_text(json.dumps(report, indent=1) + "\n")
    plot(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
