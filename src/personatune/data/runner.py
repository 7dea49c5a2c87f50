"""Runs stages in order; each records what it ran with and is skipped when nothing it depends on changed.

A stage's fingerprint covers its resolved settings, the hash of the previous stage's output and any
extra files it reads (sources, human overrides, probes). The stage builds its folder under a
temporary name and swaps it into place whole, with record.json written last, so an interrupted
stage leaves the previous good output, never a partial one.
"""

from __future__ import annotations

import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personatune import __version__, artifacts
from personatune.data import build, chunk, clean, dataset, ingest, label, pairs
from personatune.data.stage import StageContext, StageSpec
from personatune.errors import UserError
from personatune.settings import resolve
from personatune.workspace import STAGE_NAMES, Workspace

RECORD = "record.json"
REPORT = "report.json"


def _spec(module, name: str) -> StageSpec:
    return StageSpec(name=name, summary=(module.__doc__ or "").strip().splitlines()[0],
                     settings=module.Settings, run=module.run, inputs=getattr(module, "inputs", None),
                     version=getattr(module, "VERSION", 1))


_MODULES = {"ingest": ingest, "clean": clean, "chunk": chunk, "label": label, "pairs": pairs,
            "build": build, "dataset": dataset}
assert list(_MODULES) == STAGE_NAMES, "the workspace's data/NN-<stage> folders follow this order"
STAGES: dict[str, StageSpec] = {name: _spec(module, name) for name, module in _MODULES.items()}


@dataclass
class StageResult:
    name: str
    skipped: bool
    report: dict[str, Any]
    folder: Path


def output_hash(folder: Path) -> str:
    """What the stage produced: every file but the record, and the report without its duration, so a
    rebuild with identical output does not look changed (and does not rerun every later stage)."""
    parts = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != RECORD):
        if path.relative_to(folder) == Path(REPORT):
            digest = artifacts.sha256_json({k: v for k, v in artifacts.read_json(path).items() if k != "seconds"})
        else:
            digest = artifacts.sha256_file(path)
        parts.append(f"{path.relative_to(folder)}:{digest}")
    return artifacts.sha256_text("\n".join(parts))


def read_record(folder: Path) -> dict | None:
    path = folder / RECORD
    if not path.exists():
        return None
    try:
        return artifacts.read_json(path)
    except ValueError:
        return None


def upstream_hash(ws: Workspace, stage: str) -> str | None:
    index = STAGE_NAMES.index(stage)
    if index == 0:
        return None
    previous = STAGE_NAMES[index - 1]
    record = read_record(ws.stage_dir(previous))
    if record is None:
        raise UserError(f"stage {stage!r} needs the output of {previous!r}, which has not run in {ws.root}; "
                        f"run `personatune run {ws.root} --until {previous}` first")
    return record["output_hash"]


def run_stage(ws: Workspace, stage: str, flags: dict | None = None, *, force: bool = False,
              strict: bool = False, log=print) -> StageResult:
    spec = STAGES[stage]
    settings = resolve(spec.settings, ws.section(stage), flags, where=f"{ws.config_path} [{stage}]")
    folder = ws.stage_dir(stage)
    extra = spec.inputs(ws, settings) if spec.inputs else {}
    inputs = {"upstream": upstream_hash(ws, stage), **extra}
    fingerprint = artifacts.sha256_json({"stage": stage, "version": spec.version,
                                         "settings": settings.to_dict(), "inputs": inputs, "strict": strict})
    record = read_record(folder)
    if (not force and record and record.get("fingerprint") == fingerprint
            and output_hash(folder) == record.get("output_hash")):
        log(f"{stage}: up to date, skipped ({folder.relative_to(ws.root)})")
        return StageResult(stage, True, artifacts.read_json(folder / REPORT), folder)

    started = time.time()
    log(f"{stage}: running")
    with artifacts.atomic_dir(folder) as tmp:
        ctx = StageContext(ws=ws, out=tmp, previous=ws.stage_dir(STAGE_NAMES[STAGE_NAMES.index(stage) - 1])
                           if STAGE_NAMES.index(stage) else None, log=log, strict=strict)
        report = spec.run(ctx, settings) or {}
        skipped = report.get("skipped_files") or []
        if strict and skipped:
            first = skipped[0]
            raise UserError(f"{stage}: --strict and {len(skipped)} input file(s) were skipped, first "
                            f"{first['file']}: {first['reason']}")
        report = {"stage": stage, "seconds": round(time.time() - started, 2), **report}
        artifacts.write_json(tmp / REPORT, report)
        artifacts.write_json(tmp / RECORD, {
            "stage": stage,
            "fingerprint": fingerprint,
            "settings": settings.to_dict(),
            "inputs": inputs,
            "output_hash": output_hash(tmp),
            "personatune": __version__,
            "python": sys.version.split()[0],
            "platform": platform.platform(),
            "started": time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(started)),
            "seconds": report["seconds"],
        })
    log(f"{stage}: done in {report['seconds']:.1f}s -> {folder.relative_to(ws.root)}")
    return StageResult(stage, False, report, folder)


def run_pipeline(ws: Workspace, start: str | None = None, until: str | None = None, *, force: bool = False,
                 strict: bool = False, log=print) -> list[StageResult]:
    for key in ws.unknown_keys():
        raise UserError(f"{ws.config_path}: unknown top-level key {key!r}; stages are {', '.join(STAGE_NAMES)}")
    for name, value in (("--from", start), ("--until", until)):
        if value is not None and value not in STAGE_NAMES:
            raise UserError(f"{name} {value!r} is not a stage; stages are {', '.join(STAGE_NAMES)}")
    first = STAGE_NAMES.index(start) if start else 0
    last = STAGE_NAMES.index(until) if until else len(STAGE_NAMES) - 1
    if first > last:
        raise UserError(f"--from {start} comes after --until {until}")
    for stage in STAGE_NAMES[first:last + 1]:  # a typo in `build:` is found now, not after minutes of labelling
        resolve(STAGES[stage].settings, ws.section(stage), None, where=f"{ws.config_path} [{stage}]")
    results = []
    with ws.lock("run"):
        for stage in STAGE_NAMES[first:last + 1]:
            results.append(run_stage(ws, stage, force=force, strict=strict, log=log))
    return results
