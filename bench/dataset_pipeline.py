"""Benchmark: raw creator archive to built dataset (ingest -> clean -> chunk -> label -> pairs -> build).

    .venv/bin/python bench/dataset_pipeline.py                      # sizes 5000,50000
    .venv/bin/python bench/dataset_pipeline.py --sizes 2000         # a quick smoke run

Targets: 5,000 segments in <= 90 s (60 s before punctuation restoration joined the clean stage), and 50,000 in <= 12x the 5,000 time (near-linear scaling).

For each size a synthetic archive (bench/synth_archive.py: realistic formats, ~12 segments per
file, a known persona share and gold labels) is generated into a temporary folder, and a fresh
worker process runs the pipeline on it, so that each size gets:

* its own empty PERSONATUNE_CACHE, set in the worker's environment before Python starts, so no
  embedding is reused from an earlier run or size;
* a warm-up first: a tiny archive's workspace is run through the same pipeline in the same cache.
  That pays the one-time costs (GGUF tokenizer conversion, ~6 s; importing torch/transformers;
  loading MiniLM) outside the timing, as they are paid once per machine or per process, not per
  archive. The warm-up also embeds the label seeds, as any earlier run on the machine would have;
  none of the measured archive's own text is embedded before the timed run. Both effects are
  reported (warmup_seconds), not hidden;
* its own peak RSS (ru_maxrss of the worker, which includes the warm-up) and CPU time.

The pairs stage uses its default template backend, so no network or language model is involved.
Results go to bench/results/dataset_pipeline.json (written atomically) and a table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
RESULTS = BENCH_DIR / "results" / "dataset_pipeline.json"
STAGES = ["ingest", "clean", "chunk", "label", "pairs", "build"]
TARGET_SMALL = (5000, 90.0)  # (segments, seconds); was 60 s before captions were punctuated
TARGET_LARGE = (50000, 12.0)  # (segments, max ratio to the small size's time)
_STAGE_EVENT = re.compile(r"^(\w+): (running|done|up to date)")

sys.path.insert(0, str(BENCH_DIR))
from synth_archive import generate_archive  # noqa: E402  (a sibling script, not a package)

# ---------------------------------------------------------------- worker (one size, fresh process)


def _peak_rss_mb() -> float:
    # ru_maxrss is kilobytes on Linux, bytes on macOS.
    scale = 1 / 1024 / 1024 if sys.platform == "darwin" else 1 / 1024
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale, 1)


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


class StageClock:
    """A log callback that timestamps the pipeline's stage lines, to time each stage's whole wall
    clock (fingerprinting its inputs, running, hashing and recording its output), not only the part
    a stage reports as its own `seconds`."""

    def __init__(self, label: str, echo: bool) -> None:
        self.label, self.echo = label, echo
        self.started = time.perf_counter()
        self.lines: list[tuple[float, str]] = []

    def __call__(self, message: str) -> None:
        elapsed = time.perf_counter() - self.started
        self.lines.append((round(elapsed, 3), message))
        if self.echo:
            print(f"  [{self.label} +{elapsed:7.1f}s] {message}", file=sys.stderr, flush=True)

    def stage_walls(self) -> dict[str, float]:
        walls: dict[str, float] = {}
        boundary = 0.0
        for at, message in self.lines:
            match = _STAGE_EVENT.match(message)
            if match and match.group(2) != "running":
                walls[match.group(1)] = round(at - boundary, 2)
                boundary = at
        return walls


def run_workspace(ws_dir: Path, archive_dir: Path, clock: StageClock) -> tuple[list[Any], float]:
    """init_workspace + run_pipeline(until="build"); returns the StageResults and the wall seconds."""
    from personatune.data.runner import run_pipeline
    from personatune.workspace import Workspace, init_workspace

    init_workspace(ws_dir, [str(archive_dir / "creator")], gold_labels=str(archive_dir / "gold_labels.jsonl"))
    ws = Workspace.open(ws_dir)
    started = clock.started = time.perf_counter()
    results = run_pipeline(ws, until="build", log=clock)
    return results, time.perf_counter() - started


def _summarize_gold(report: dict) -> dict:
    gold = report.get("gold", {}).get("automatic", {})
    return {k: gold.get(k) for k in ("precision", "recall", "f1", "true_positives", "predicted", "gold")}


def worker(spec_path: Path) -> int:
    """Run one size. PERSONATUNE_CACHE is already in this process's environment (set by the parent
    before the interpreter started), and personatune is imported only below, after checking it."""
    spec = json.loads(spec_path.read_text())
    if os.environ.get("PERSONATUNE_CACHE") != spec["cache"]:
        raise SystemExit("worker: PERSONATUNE_CACHE is not the fresh cache this size was given")
    tmp = Path(spec["tmp"])
    echo = not spec["quiet"]

    # Warm-up: one-time conversions and imports, in the same (otherwise fresh) cache.
    warm_started = time.perf_counter()
    warm_archive = tmp / "warmup-archive"
    generate_archive(warm_archive, spec["warmup_segments"], 0.05, seed=spec["seed"] + 7919)
    warm_results, _ = run_workspace(tmp / "warmup-ws", warm_archive, StageClock("warm-up", False))
    warmup_seconds = time.perf_counter() - warm_started
    rss_after_warmup = _peak_rss_mb()

    import torch  # already imported by the warm-up; only read its thread count

    clock = StageClock(str(spec["size"]), echo)
    cpu_before = _cpu_seconds()
    results, total = run_workspace(tmp / "ws", Path(spec["archive"]), clock)
    cpu = _cpu_seconds() - cpu_before
    reports = {r.name: r.report for r in results}
    walls = clock.stage_walls()
    embed_line = next((m for _, m in clock.lines if "embedding" in m and "passages" in m), "")
    out = {
        "size": spec["size"],
        "total_seconds": round(total, 2),
        "cpu_seconds": round(cpu, 2),
        "stage_wall_seconds": {s: walls.get(s) for s in STAGES},
        "stage_report_seconds": {s: reports[s].get("seconds") for s in STAGES if s in reports},
        "skipped_stages": [r.name for r in results if r.skipped],
        "documents": reports["ingest"].get("documents"),
        "pieces": reports["ingest"].get("pieces"),
        "words_in": reports["clean"].get("words_in"),
        "words_out": reports["clean"].get("words_out"),
        "removed_words_by_reason": reports["clean"].get("removed_words_by_reason"),
        "duplicate_passages": {k: reports["clean"].get(k, 0) for k in
                               ("exact_duplicate_passages", "near_duplicate_passages", "duplicate_documents")},
        "segments": reports["chunk"].get("segments"),
        "tokens_median": reports["chunk"].get("tokens_median"),
        "labels": reports["label"].get("labels"),
        "label_embedding": embed_line.strip(),
        "persona_gold": _summarize_gold(reports["label"]),
        "pairs": {k: reports["pairs"].get(k) for k in ("segments", "questions", "rejected")},
        "build_rows": reports["build"].get("rows"),
        "warmup_seconds": round(warmup_seconds, 2),
        "warmup_segments": spec["warmup_segments"],
        "warmup_stage_seconds": {r.name: r.report.get("seconds") for r in warm_results},
        "peak_rss_mb": _peak_rss_mb(),
        "peak_rss_after_warmup_mb": rss_after_warmup,
        "torch_threads": torch.get_num_threads(),
        "log": clock.lines,
    }
    Path(spec["result"]).write_text(json.dumps(out, indent=2) + "\n")
    return 0


# ---------------------------------------------------------------- parent (generate, spawn, report)


def machine() -> dict:
    try:
        affinity = len(os.sched_getaffinity(0))
    except AttributeError:
        affinity = None
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        memory_gb = None
    return {"cpu_count": os.cpu_count(), "cpus_usable": affinity, "memory_gb": memory_gb,
            "platform": platform.platform(), "processor": platform.processor() or platform.machine(),
            "python": platform.python_version(),
            "load_average_at_start": [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None}


def run_size(size: int, args: argparse.Namespace) -> dict:
    """Generate the archive, then time the pipeline on it in a fresh worker process."""
    workdir = Path(args.workdir) if args.workdir else None
    if workdir:
        workdir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f"ptbench-{size}-", dir=workdir))
    try:
        started = time.perf_counter()
        summary = generate_archive(tmp / "archive", size, args.persona_share, seed=args.seed)
        generation = time.perf_counter() - started
        if not args.quiet:
            print(f"[{size}] archive: {summary.files} files {summary.formats}, {summary.content_words} words, "
                  f"{summary.persona_passages} persona passages, generated in {generation:.1f}s",
                  file=sys.stderr, flush=True)
        cache = tmp / "cache"
        cache.mkdir()
        spec = {"size": size, "seed": args.seed, "tmp": str(tmp), "archive": str(tmp / "archive"),
                "cache": str(cache), "result": str(tmp / "result.json"), "quiet": args.quiet,
                "warmup_segments": args.warmup_segments}
        spec_path = tmp / "spec.json"
        spec_path.write_text(json.dumps(spec))
        env = {**os.environ, "PERSONATUNE_CACHE": str(cache)}
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", str(spec_path)],
                              env=env, cwd=str(BENCH_DIR.parent))
        if proc.returncode != 0:
            return {"size": size, "error": f"worker exited with status {proc.returncode}", "workdir": str(tmp)}
        result = json.loads((tmp / "result.json").read_text())
        result["generation_seconds"] = round(generation, 2)
        result["archive"] = {k: v for k, v in asdict(summary).items()
                             if k not in ("out_dir", "gold_labels", "sources")}
        if args.keep:
            result["workdir"] = str(tmp)
        return result
    finally:
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


def scaling(runs: list[dict]) -> dict:
    """Time ratios between sizes, next to the size ratios (linear scaling means they are equal)."""
    ok = sorted((r for r in runs if "error" not in r), key=lambda r: r["size"])
    pairs = []
    for small, large in zip(ok, ok[1:], strict=False):
        pairs.append({"from": small["size"], "to": large["size"], "size_ratio": round(large["size"] / small["size"], 2),
                      "time_ratio": round(large["total_seconds"] / max(small["total_seconds"], 1e-9), 2),
                      "stage_time_ratios": {s: round((large["stage_wall_seconds"][s] or 0)
                                                     / max(small["stage_wall_seconds"][s] or 0, 0.01), 2)
                                            for s in STAGES}})
    return {"pairs": pairs, "seconds_per_1000_segments": {
        str(r["size"]): round(r["total_seconds"] / max(r["segments"] or r["size"], 1) * 1000, 2) for r in ok}}


def targets(runs: list[dict]) -> dict:
    by_size = {r["size"]: r for r in runs if "error" not in r}
    small_n, small_limit = TARGET_SMALL
    large_n, large_ratio = TARGET_LARGE
    out: dict[str, Any] = {}
    small = by_size.get(small_n)
    out[f"{small_n}_within_{small_limit:g}s"] = (
        {"seconds": small["total_seconds"], "limit": small_limit, "met": small["total_seconds"] <= small_limit}
        if small else "not measured")
    large = by_size.get(large_n)
    out[f"{large_n}_within_{large_ratio:g}x_of_{small_n}"] = (
        {"ratio": round(large["total_seconds"] / small["total_seconds"], 2), "limit": large_ratio,
         "met": large["total_seconds"] <= large_ratio * small["total_seconds"]}
        if small and large else "not measured")
    return out


def print_table(runs: list[dict], scale: dict, goals: dict) -> None:
    head = ["size", "segments", "total s"] + [f"{s} s" for s in STAGES] + ["precision", "recall", "peak MB"]
    rows = []
    for r in runs:
        if "error" in r:
            rows.append([str(r["size"]), r["error"]] + [""] * (len(head) - 2))
            continue
        gold = r["persona_gold"]
        rows.append([str(r["size"]), str(r["segments"]), f"{r['total_seconds']:.1f}"]
                    + [f"{r['stage_wall_seconds'][s]:.1f}" if r["stage_wall_seconds"][s] is not None else "-"
                       for s in STAGES]
                    + [f"{gold['precision']:.3f}" if gold["precision"] is not None else "-",
                       f"{gold['recall']:.3f}" if gold["recall"] is not None else "-", f"{r['peak_rss_mb']:.0f}"])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(head)]
    print("  ".join(h.rjust(w) for h, w in zip(head, widths, strict=True)))
    for row in rows:
        print("  ".join(c.rjust(w) for c, w in zip(row, widths, strict=True)))
    print()
    print("stage times are wall clock from the end of the previous stage (fingerprinting, running, recording);")
    print("excluded: archive generation and a warm-up run in the same fresh cache (tokenizer conversion, imports,")
    print("model loading, label seed embeddings). Precision/recall: label stage vs gold, automatic labels.")
    for r in runs:
        if "error" not in r:
            print(f"  {r['size']}: {r['label_embedding'] or 'label: nothing embedded'}; warm-up {r['warmup_seconds']:.1f}s;"
                  f" cpu {r['cpu_seconds']:.1f}s for {r['total_seconds']:.1f}s wall")
    print("seconds per 1000 segments: " + ", ".join(f"{size}: {v:.2f}"
                                                     for size, v in scale["seconds_per_1000_segments"].items()))
    for pair in scale["pairs"]:
        print(f"time({pair['to']})/time({pair['from']}) = {pair['time_ratio']:.2f} for {pair['size_ratio']:g}x the "
              f"segments; per stage: " + ", ".join(f"{s} {v:g}" for s, v in pair["stage_time_ratios"].items()))
    for name, goal in goals.items():
        if isinstance(goal, dict):
            value = f"{goal['seconds']:.1f}s" if "seconds" in goal else f"{goal['ratio']:.2f}x"
            print(f"target {name}: {value} (limit {goal['limit']:g}) -> {'MET' if goal['met'] else 'MISSED'}")
        else:
            print(f"target {name}: {goal}")


def write_atomically(path: Path, data: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def parse_sizes(text: str) -> list[int]:
    try:
        sizes = [int(s.replace("_", "")) for s in text.split(",") if s.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--sizes {text!r}: expected comma-separated whole numbers") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError("--sizes needs at least one size >= 1")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=parse_sizes, default=[5000, 50000],
                        help="archive sizes in segments, comma-separated (default 5000,50000)")
    parser.add_argument("--persona-share", type=float, default=0.02, help="persona share of the archive's words")
    parser.add_argument("--seed", type=int, default=0, help="archive generator seed")
    parser.add_argument("--warmup-segments", type=int, default=120, help="size of the untimed warm-up archive")
    parser.add_argument("--output", type=Path, default=RESULTS, help=f"results JSON (default {RESULTS})")
    parser.add_argument("--workdir", help="where the temporary archives, workspaces and caches go")
    parser.add_argument("--keep", action="store_true", help="keep the temporary folders for inspection")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    parser.add_argument("--worker", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args.worker)

    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    host = machine()
    runs = []
    for size in args.sizes:
        runs.append(run_size(size, args))
    host["load_average_at_end"] = [round(x, 2) for x in os.getloadavg()] if hasattr(os, "getloadavg") else None
    scale, goals = scaling(runs), targets(runs)
    print_table(runs, scale, goals)
    write_atomically(args.output, {
        "benchmark": "dataset_pipeline", "started": started, "machine": host,
        "settings": {"sizes": args.sizes, "persona_share": args.persona_share, "seed": args.seed,
                     "warmup_segments": args.warmup_segments, "until": "build", "pairs_backend": "template"},
        "method": ("per size: fresh PERSONATUNE_CACHE and worker process; untimed warm-up workspace in that cache "
                   "first (GGUF tokenizer conversion, imports, model loads, label seed embeddings); timed "
                   "run_pipeline(until='build'); stage times are wall clock between stage log lines"),
        "runs": runs, "scaling": scale, "targets": goals,
    })
    print(f"\nwrote {args.output}")
    return 1 if any("error" in r for r in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
