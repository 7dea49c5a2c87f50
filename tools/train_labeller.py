"""Train the label stage's persona classifier (personatune.data.label_model) on the hand-labelled corpus.

Data: bench/data/labels/*.jsonl, real people's archives labelled by hand against GUIDE.md there;
passages whose licence forbids shipping text are cut back out of their public repositories
(see bench/data/labels/README.md for the bare clones it needs). Takes about a minute on 2 cores.

    python tools/train_labeller.py [--mirrors DIR]

Writes src/personatune/data/label_model.npz (atomically) and bench/results/labeller_train.json. The
honest figures (each person held out in turn) come from `python bench/labeller.py`.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import labeller  # noqa: E402  (bench/labeller.py: the corpus loader shared with the benchmark)

from personatune import artifacts  # noqa: E402
from personatune.data import label_model  # noqa: E402

OUT = ROOT / "src/personatune/data" / label_model.MODEL_FILE


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    labeller.add_mirrors_argument(parser)
    parser.add_argument("--l2", type=float, default=3000.0, help="L2 penalty (chosen by leave-one-person-out F1)")
    args = parser.parse_args()
    people = labeller.whole_corpus(args.mirrors, "train")
    if people is None:
        return 1
    started = time.time()
    x, y, cues, who = labeller.corpus(people)
    info = {"trained_on": {name: int((who == name).sum()) for name in people}, "persona_share": round(float(y.mean()), 3),
            "l2": args.l2, "hash_dim": label_model.HASH_DIM, "dense": list(label_model.DENSE)}
    model = label_model.fit(x, y, args.l2, info)
    with artifacts.atomic_open(OUT, "wb") as handle:
        handle.write(model.to_bytes())
    seconds = time.time() - started
    train = labeller.scores(list(y > 0), list(labeller.decide(model.predict(x), cues)))
    record = {**info, "seconds": round(seconds, 1), "training_fit": train, "bytes": OUT.stat().st_size}
    (ROOT / "bench/results").mkdir(exist_ok=True)
    (ROOT / "bench/results/labeller_train.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"{len(y)} passages of {len(people)} people, {seconds:.0f} s; fit on the training passages F1 {train['f1']:.2f} "
          f"(in-sample: see bench/labeller.py for held-out people); wrote {OUT} ({OUT.stat().st_size:,} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
