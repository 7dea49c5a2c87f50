"""The dial at full size: `personatune sweep` over persona ratios, its table and its plot for the docs.

    .venv/bin/python bench/sweep_dial.py --workspace WS [--run] [--ratios 1,3,10,30] [--full]

With `--run` the sweep runs first (as `personatune sweep WS --ratios ... --eval-set quick=true`, or the
full suite with `--full`); without it the workspace's latest sweep is read. Writes
`bench/results/sweep_dial.json` (per ratio: the tuned model's identity recall, opinion alignment, bleed,
copied 8-grams, general accuracy, and with retrieval; the base model's; fired flags; the sweep's minutes)
and `bench/results/sweep_dial.png` (the sweep report's dial plot).
"""

from __future__ import annotations

import argparse
import base64
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

KEYS = ("identity_recall", "opinion_alignment", "invented_rate", "bleed_rate", "copied_8gram_share",
        "general_accuracy")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workspace", required=True)
    parser.add_argument("--run", action="store_true", help="run the sweep first")
    parser.add_argument("--ratios", default="1,3,10,30")
    parser.add_argument("--full", action="store_true", help="the full eval suite instead of --quick")
    args = parser.parse_args()
    from personatune import artifacts
    from personatune.eval.sweep import dial_plot, sweep
    from personatune.workspace import Workspace

    ws = Workspace.open(args.workspace)
    if args.run:
        folder = sweep(ws, [int(r) for r in args.ratios.split(",")], eval_overrides=None if args.full else {"quick": "true"})
    else:
        folder = max((ws.root / "sweeps").glob("*/sweep.json"), key=lambda p: p.parent.name).parent
    record = artifacts.read_json(folder / "sweep.json")
    rows = [{"ratio": r["ratio"], "run_id": r["run_id"], "fired": r["fired"],
             "tuned": {k: r["tuned"].get(k) for k in KEYS}, "tuned_rag": {k: r["tuned_rag"].get(k) for k in KEYS},
             "base": {k: r["base"].get(k) for k in KEYS}} for r in record["ratios"]]
    out = {"workspace": str(ws.root), "sweep_id": record["sweep_id"], "eval": record["eval"],
           "minutes": record["minutes"], "recommendation": record["recommendation"], "ratios": rows}
    artifacts.write_json(ROOT / "bench" / "results" / "sweep_dial.json", out)
    image = dial_plot(record["ratios"]).split(",", 1)[1]
    (ROOT / "bench" / "results" / "sweep_dial.png").write_bytes(base64.b64decode(image))
    print(f"sweep {record['sweep_id']}: {record['minutes']} minutes, {record['eval']}")
    print("ratio  identity  +rag  opinion  bleed  copied  accuracy  flags")
    for r in rows:
        t, g = r["tuned"], r["tuned_rag"]
        cell = lambda v: "  -  " if v is None else f"{v:.2f}"  # noqa: E731
        print(f"{r['ratio']:>5}  {cell(t['identity_recall']):>8}  {cell(g['identity_recall']):>4}  "
              f"{cell(t['opinion_alignment']):>7}  {cell(t['bleed_rate']):>5}  {cell(t['copied_8gram_share']):>6}  "
              f"{cell(t['general_accuracy']):>8}  {', '.join(r['fired']) or '-'}")
    print(f"recommended: {record['recommendation'].get('ratio')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
