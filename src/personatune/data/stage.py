"""What every dataset stage is given and what it declares.

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
