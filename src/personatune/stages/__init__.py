"""The dataset pipeline, one module per stage, in the order they run.

Each stage module exposes `Settings` (a documented dataclass), `run(ctx, settings) -> report`, and
optionally `inputs(ws, settings) -> {name: hash}` for files it reads besides the previous stage.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from personatune.workspace import Workspace


@dataclass
class StageContext:
    ws: Workspace
    out: Path  # the stage's (temporary) output folder
    previous: Path | None  # the previous stage's output folder
    log: Callable[[str], None] = print
    strict: bool = False


@dataclass(frozen=True)
class StageSpec:
    name: str
    summary: str
    settings: type
    run: Callable[[StageContext, Any], dict]
    inputs: Callable[[Workspace, Any], dict] | None = None
    version: int = 1


def _spec(module, name: str) -> StageSpec:
    return StageSpec(name=name, summary=(module.__doc__ or "").strip().splitlines()[0],
                     settings=module.Settings, run=module.run, inputs=getattr(module, "inputs", None),
                     version=getattr(module, "VERSION", 1))


def _load() -> dict[str, StageSpec]:
    from personatune.stages import build, chunk, clean, dataset, ingest, label, pairs

    modules = [("ingest", ingest), ("clean", clean), ("chunk", chunk), ("label", label),
               ("pairs", pairs), ("build", build), ("dataset", dataset)]
    return {name: _spec(module, name) for name, module in modules}


STAGE_NAMES = ["ingest", "clean", "chunk", "label", "pairs", "build", "dataset"]


class _Lazy(dict):
    def _fill(self) -> None:
        if not dict.__len__(self):
            self.update(_load())

    def __getitem__(self, key):
        self._fill()
        return dict.__getitem__(self, key)

    def items(self):
        self._fill()
        return dict.items(self)

    def values(self):
        self._fill()
        return dict.values(self)


STAGES: dict[str, StageSpec] = _Lazy()
