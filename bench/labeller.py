"""The labeller against hand labels of real people: precision, recall and F1 of `persona`, per person and overall.

    python bench/labeller.py                 # every person in bench/data/labels/*.jsonl
    python bench/labeller.py --mirrors DIR   # where bare clones of the source repos live (owner+name/repo)
    python bench/labeller.py --lopo          # also: a learned classifier, leave one person out

Each row of bench/data/labels/<person>.jsonl is one passage of a real archive with its hand label
(see GUIDE.md there). Passages whose licence forbids shipping text carry `text: null` and are cut
back out of their repository at the recorded commit (`git show COMMIT:SOURCE`, offsets, sha1 checked);
a person whose repository is not at hand is skipped and said so. Each person's passages go through
the label stage's `auto_label` as that person's archive, with no review and no gold labels.
With --lopo, a candidate for the next labeller is measured the honest way: a logistic regression on
MiniLM embeddings (mean of ~60-word windows) and six lexical rates, trained on every person but
one and tested on that one, for each person in turn.
Results: bench/results/labeller.json and bench/results/labeller.png.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
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


def evaluate(rows: list[dict]) -> tuple[dict, list[bool], list[bool]]:
    from personatune.data.label import Settings, auto_label

    segments = [{"segment_id": f"p{n:05d}", "doc_id": r["source"], "text": " ".join(r["text"].split())}
                for n, r in enumerate(rows)]
    labelled = auto_label(segments, Settings(), [], log=lambda _: None)
    truth = [r["label"] == "persona" for r in rows]
    predicted = [r["label"] == "persona" for r in labelled]
    return scores(truth, predicted), truth, predicted


_FIRST = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|my|me|mine|myself)\b", re.I)
_YOU = re.compile(r"\b(?:you|your|you're|yours)\b", re.I)
_WE = re.compile(r"\b(?:we|our|us)\b", re.I)


def passage_features(texts: list[str]):
    """MiniLM mean over ~60-word windows, then first-person, you, we rates, the label cues, length."""
    import numpy as np

    from personatune.data.label_cues import lexical_features
    from personatune.embed import get_embedder

    embedder = get_embedder("all-minilm-l6-v2")
    windows, owner = [], []
    for n, text in enumerate(texts):
        words = text.split() or [""]
        for i in range(0, len(words), 60):
            windows.append(" ".join(words[i:i + 60]))
            owner.append(n)
    vectors = embedder.encode(windows)
    owner = np.array(owner)
    rows = []
    for n, text in enumerate(texts):
        words = max(1, len(text.split()))
        cues = lexical_features(text)
        lexical = [len(_FIRST.findall(text)) / words * 10, len(_YOU.findall(text)) / words * 10,
                   len(_WE.findall(text)) / words * 10, min(3.0, cues["lexical"]), min(3.0, cues["instruction"]),
                   float(np.log(words)) / 5]
        rows.append(np.concatenate([vectors[owner == n].mean(axis=0), lexical]))
    return np.array(rows, dtype=np.float64)


def fit_logistic(x, y, l2: float = 300.0, steps: int = 30):
    """Class-balanced, L2-regularised logistic regression by Newton steps on standardised features."""
    import numpy as np

    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = np.hstack([(x - mu) / sd, np.ones((len(x), 1))])
    w = np.zeros(z.shape[1])
    weight = np.where(y > 0, 0.5 / y.mean(), 0.5 / (1 - y.mean()))
    penalty = l2 * np.r_[np.ones(len(w) - 1), 0] / len(y)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-z @ w))
        gradient = z.T @ (weight * (p - y)) / len(y) + penalty * w
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z / len(y) + np.diag(penalty)
        w -= np.linalg.solve(hessian, gradient)
    return lambda new: 1 / (1 + np.exp(-(np.hstack([(new - mu) / sd, np.ones((len(new), 1))]) @ w)))


def leave_one_person_out(people: dict[str, list[dict]]) -> tuple[dict, dict]:
    import numpy as np

    names = list(people)
    x = passage_features([" ".join(r["text"].split()) for n in names for r in people[n]])
    y = np.array([r["label"] == "persona" for n in names for r in people[n]], dtype=np.float64)
    who = np.array([n for n in names for _ in people[n]])
    per_person, truth, predicted = {}, [], []
    for name in names:
        model = fit_logistic(x[who != name], y[who != name])
        guess = list(model(x[who == name]) >= 0.5)
        per_person[name] = scores(list(y[who == name] > 0), guess)
        truth += list(y[who == name] > 0)
        predicted += guess
    return per_person, scores(truth, predicted)


def plot(per_person: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(per_person)
    fig, ax = plt.subplots(figsize=(9, 3.6))
    width = 0.27
    for k, metric in enumerate(("precision", "recall", "f1")):
        ax.bar([i + (k - 1) * width for i in range(len(names))], [per_person[n][metric] for n in names], width,
               label=metric)
    ax.axhline(0.8, color="#d62728", linestyle="--", linewidth=1, label="target F1 0.8")
    ax.set_xticks(range(len(names)), names, rotation=25, ha="right", fontsize=8)
    ax.set_ylim(0, 1)
    ax.set_title("persona labeller against hand labels, per person (no review)")
    ax.legend(fontsize=8, ncols=4, loc="upper right")
    fig.tight_layout()
    fig.savefig(RESULTS / "labeller.png", dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mirrors", type=Path, default=Path(os.environ.get("PERSONATUNE_MIRRORS", "/work/.mirror")))
    parser.add_argument("--lopo", action="store_true", help="also measure a learned classifier, leave one person out")
    args = parser.parse_args()
    per_person, all_truth, all_predicted, skipped, people = {}, [], [], {}, {}
    for path in sorted(LABELS.glob("*.jsonl")):
        rows, missing = load_person(path, args.mirrors)
        if missing:
            skipped[path.stem] = missing
        if not rows:
            continue
        people[path.stem] = rows
        result, truth, predicted = evaluate(rows)
        per_person[path.stem] = result
        all_truth += truth
        all_predicted += predicted
        print(f"{path.stem:24} {result['passages']:5} passages, {result['persona']:4} persona: precision "
              f"{result['precision']:.2f} recall {result['recall']:.2f} F1 {result['f1']:.2f}")
    overall = scores(all_truth, all_predicted)
    print(f"{'overall':24} {overall['passages']:5} passages, {overall['persona']:4} persona: precision "
          f"{overall['precision']:.2f} recall {overall['recall']:.2f} F1 {overall['f1']:.2f}")
    if skipped:
        print(f"not rebuilt (repository not under {args.mirrors}): {skipped}")
    report = {"per_person": per_person, "overall": overall, "not_rebuilt": skipped}
    if args.lopo:
        lopo, lopo_overall = leave_one_person_out(people)
        for name, result in lopo.items():
            print(f"  learned, {name} held out: precision {result['precision']:.2f} recall {result['recall']:.2f} "
                  f"F1 {result['f1']:.2f}")
        print(f"  learned, overall: precision {lopo_overall['precision']:.2f} recall {lopo_overall['recall']:.2f} "
              f"F1 {lopo_overall['f1']:.2f}")
        report["learned_leave_one_person_out"] = {"per_person": lopo, "overall": lopo_overall}
    RESULTS.mkdir(exist_ok=True)
    out = RESULTS / "labeller.json"
    out.write_text(json.dumps(report, indent=1) + "\n")
    plot(per_person)
    return 0


if __name__ == "__main__":
    sys.exit(main())
