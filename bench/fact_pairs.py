"""Fact pairs on real archives: how many, how many persona segments they reach, which probed facts they hold,
and how good they are when rated one by one.

    python bench/fact_pairs.py sample WS ARCHIVE VERSION [--probes P] [--n 40] [--facts-from every]
    python bench/fact_pairs.py summary

`sample` runs the fact writer of the pairs stage (the template backend with its round trip) over the
workspace's labelled segments, as the stage would, and writes:
- `bench/data/facts/samples/ARCHIVE-VERSION.jsonl`: up to n of the proposed fact pairs (before the round
  trip, which on a big archive drops most short questions) drawn with seed 0, to be rated
  against `bench/data/pairs/RUBRIC.md` into `bench/data/facts/ratings/ARCHIVE-VERSION.jsonl`;
- `bench/results/fact_pairs-ARCHIVE-VERSION.json`: counts, and with `--probes`, the share of identity probes
  whose expected strings all appear in one kept fact pair's answer ("the fact has a way in"), listing which.

With `--facts-from every` the writer also reads the segments the labeller did not call persona (what the
person says of themselves there, `pairs.facts_from`); each sampled pair records where it was read
(`read_from`), which the reader does not see (rate from a copy without it), and the ratings add a fifth
check, `about_person` (`bench/data/facts/ABOUT.md`).

`summary` joins the counts and the ratings into one table (printed, and `bench/results/fact_pairs.json`).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
import time
from pathlib import Path

import yaml

from personatune import artifacts
from personatune.data.fact_rows import fact_rows
from personatune.data.pair_checks import Checks
from personatune.data.pairs import Settings
from personatune.data.retrieval import BM25
from personatune.data.template_questions import TemplateBackend

ROOT = Path(__file__).resolve().parent
SAMPLES, RATINGS = ROOT / "data" / "facts" / "samples", ROOT / "data" / "facts" / "ratings"
RESULTS = ROOT / "results"
CHECKS = ("grammatical", "natural", "answerable", "boundaries")


def facts_of(workspace: Path, facts_from: str = "persona") -> tuple[list[dict], list[dict], int, float]:
    """(candidates, pairs, persona segments, seconds): every fact pair the writer proposes, and those that also
    pass the round trip (what the pairs stage keeps). `workspace` is a workspace, or a hand-labelled file of
    the labeller's corpus (`bench/data/labels/PERSON.jsonl`: people the writer's rules were not written on)."""
    if workspace.suffix == ".jsonl":
        segments = [{**r, "segment_id": f"{workspace.stem}-{i}"} for i, r in enumerate(artifacts.read_jsonl(workspace))
                    if r.get("text")]  # rows whose licence keeps the text out are rebuilt by their own script
    else:
        segments = artifacts.read_jsonl(workspace / "data" / "04-label" / "labels.jsonl")
    started = time.time()
    index = BM25([s["text"] for s in segments])
    backend = TemplateBackend([s["text"] for s in segments], person=workspace.name, index=index)
    trained = [s for s in segments if s["label"] in ("persona", "instructional")]  # the stage's include_labels
    candidates = fact_rows(trained, segments, backend, Settings(round_trip_top_k=0, facts_from=facts_from), Checks())
    kept = fact_rows(trained, segments, backend, Settings(facts_from=facts_from), Checks())
    return candidates, kept, sum(s["label"] == "persona" for s in segments), time.time() - started


def coverage(rows: list[dict], probes: Path) -> dict:
    identity = (yaml.safe_load(probes.read_text(encoding="utf-8")) or {}).get("identity") or []
    held, missed = [], []
    for probe in identity:
        expected = [str(e).lower() for e in probe["expected"]]
        hit = next((r for r in rows if all(e in r["text"].lower() for e in expected)), None)
        (held if hit else missed).append({"probe": probe["question"], **({"pair": " / ".join(hit["questions"])} if hit else {})})
    return {"probes": len(identity), "held": len(held), "share": round(len(held) / max(1, len(identity)), 3),
            "held_by": held, "missed": [m["probe"] for m in missed]}


def sample(args) -> None:
    candidates, rows, persona, seconds = facts_of(Path(args.workspace), args.facts_from)
    asked = [(r, q) for r in candidates for q in r["questions"]]
    picked = random.Random(0).sample(asked, min(args.n, len(asked)))
    SAMPLES.mkdir(parents=True, exist_ok=True)
    artifacts.write_jsonl(SAMPLES / f"{args.archive}-{args.version}.jsonl",
                          [{"id": f"{args.archive}-{args.version}-{k}", "label": "persona", "question": q,
                            "read_from": r["read_from"],
                            **({"answer": None, "answer_sha1": hashlib.sha1(r["text"].encode()).hexdigest()}
                               if args.no_answers else {"answer": r["text"]})} for k, (r, q) in enumerate(picked)])
    result = {"archive": args.archive, "version": args.version, "proposed": len(candidates),
              "proposed_questions": len(asked), "fact_pairs": len(rows), "questions": sum(len(r["questions"]) for r in rows),
              "persona_segments": persona,
              "segments_with_facts": len({r["parent"] for r in rows}), "seconds": round(seconds, 1),
              "facts_from": args.facts_from, "read_outside_persona": sum(r["read_from"] != "persona" for r in rows)}
    if args.probes:
        result["probe_coverage"] = coverage(rows, Path(args.probes))
    artifacts.write_json(RESULTS / f"fact_pairs-{args.archive}-{args.version}.json", result)
    print(json.dumps({k: v for k, v in result.items() if k != "probe_coverage"}))
    if args.probes:
        c = result["probe_coverage"]
        print(f"probe coverage: {c['held']}/{c['probes']}")


def summary(_args) -> None:
    table = []
    for path in sorted(RESULTS.glob("fact_pairs-*-*.json")):
        result = artifacts.read_json(path)
        ratings_path = RATINGS / f"{result['archive']}-{result['version']}.jsonl"
        if ratings_path.exists():
            ratings = artifacts.read_jsonl(ratings_path)
            result["rated"] = len(ratings)
            result["all_four"] = round(sum(all(r[c] for c in CHECKS) for r in ratings) / max(1, len(ratings)), 3)
            for c in CHECKS:
                result[c] = round(sum(r[c] for r in ratings) / max(1, len(ratings)), 3)
        table.append({k: v for k, v in result.items() if k != "probe_coverage"}
                     | ({"probe_coverage": result["probe_coverage"]["share"]} if "probe_coverage" in result else {}))
    artifacts.write_json(RESULTS / "fact_pairs.json", table)
    for row in table:
        print(json.dumps(row))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("sample")
    s.add_argument("workspace")
    s.add_argument("archive")
    s.add_argument("version")
    s.add_argument("--probes")
    s.add_argument("--n", type=int, default=40)
    s.add_argument("--facts-from", default="persona", choices=("persona", "every"))
    s.add_argument("--no-answers", action="store_true",
                   help="ship no answer text (an archive without a licence; rate from a local run)")
    sub.add_parser("summary")
    args = parser.parse_args(argv)
    {"sample": sample, "summary": summary}[args.command](args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
