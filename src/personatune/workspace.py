"""A workspace folder holds one persona: its config, every stage's output, and the human's files.

    DIR/persona.yaml               config: sources, base model, per-stage settings (user-edited)
    DIR/labels.override.jsonl      human label decisions; the tool appends, never rewrites
    DIR/data/NN-<stage>/           one folder per stage: its artifacts, report.json, record.json

Sources are referenced by path, never copied or modified.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from personatune import artifacts
from personatune.errors import UserError
from personatune.registry import DEFAULT_BASE

CONFIG_NAME = "persona.yaml"
# What personatune itself writes in DIR: never read back as a source, even when DIR is inside the sources.
OWN_FOLDERS = ("data", "runs", "export", "eval", "sweeps", "index", "cache")
OWN_FILES = ("persona.yaml", "persona_card.md", "labels.override.jsonl", "ratings.sqlite", ".personatune.lock")
LOCK_NAME = ".personatune.lock"
OVERRIDES_NAME = "labels.override.jsonl"
# The dataset stages in the order they run; stage N writes DIR/data/NN-<stage>/.
STAGE_NAMES = ["ingest", "clean", "chunk", "label", "pairs", "build", "dataset"]

_TOP_LEVEL = {"name", "base_model", "sources", "gold_labels", "probes", "label_overrides", "train", "rag", "generate", "eval"}


def read_config_text(path: Path) -> str:
    """persona.yaml as text: UTF-8 (a BOM is fine), or UTF-16 with its BOM (Windows editors save that)."""
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start}); save it as UTF-8 and run again") from None


@dataclass
class Workspace:
    root: Path
    config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def open(cls, root: str | Path) -> Workspace:
        root = Path(root).expanduser().resolve()
        path = root / CONFIG_NAME
        if not path.exists():
            raise UserError(f"{root} is not a personatune workspace (no {CONFIG_NAME}); "
                            f"create one with `personatune init {root} --sources PATH...`")
        try:
            config = yaml.safe_load(read_config_text(path)) or {}
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" line {mark.line + 1}" if mark else ""
            raise UserError(f"{path}{where}: not valid YAML ({getattr(exc, 'problem', exc)}); fix the file") from None
        if not isinstance(config, dict):
            raise UserError(f"{path}: expected a mapping of settings at the top level")
        sources = config.get("sources")
        if sources is not None and not isinstance(sources, str) and \
                not (isinstance(sources, list) and all(isinstance(s, str) for s in sources)):
            raise UserError(f"{path}: `sources` must be a path or a list of paths (got {sources!r}); "
                            "e.g. sources: [/home/me/transcripts]")
        return cls(root, config)

    @property
    def config_path(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def name(self) -> str:
        return str(self.config.get("name") or self.root.name)

    @property
    def base_model(self) -> str:
        return str(self.config.get("base_model") or DEFAULT_BASE)

    def path_setting(self, key: str, default: str | None = None) -> Path | None:
        value = self.config.get(key, default)
        if not value:
            return None
        path = Path(str(value)).expanduser()
        return path if path.is_absolute() else (self.root / path)

    @property
    def sources(self) -> list[Path]:
        raw = self.config.get("sources") or []
        if isinstance(raw, str):
            raw = [raw]
        out = []
        for item in raw:
            path = Path(str(item)).expanduser()
            out.append(path if path.is_absolute() else (self.root / path).resolve())
        return out

    @property
    def overrides_path(self) -> Path:
        return self.path_setting("label_overrides", OVERRIDES_NAME)  # type: ignore[return-value]

    def section(self, stage: str) -> dict[str, Any]:
        value = self.config.get(stage) or {}
        if not isinstance(value, dict):
            raise UserError(f"{self.config_path}: section `{stage}:` must be a mapping of settings")
        return value

    def owns(self, path: Path) -> bool:
        """Is this a file the tool wrote in the workspace (its outputs, its config, the card)?"""
        root = self.root.resolve()
        try:
            rel = path.resolve().relative_to(root)
        except ValueError:
            return False
        return bool(rel.parts) and (rel.parts[0] in OWN_FOLDERS or (len(rel.parts) == 1 and rel.parts[0] in OWN_FILES))

    @contextmanager
    def lock(self, what: str) -> Iterator[None]:
        """One writer at a time: a second `personatune run` on the same folder says who holds it and stops,
        instead of redoing the same work and racing the first one's folder swaps. Holding the lock, the
        temporary folders a killed run left behind are removed (nobody else can be writing them)."""
        try:
            import fcntl
        except ImportError:  # not on this platform: no lock, as before
            yield
            return
        path = self.root / LOCK_NAME
        handle = open(path, "a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = handle.read().strip() or "another process"
                raise UserError(f"{self.root} is busy: {holder}; wait for it to finish (or stop it) and run "
                                "again") from None
            handle.seek(0)
            handle.truncate()
            handle.write(f"`personatune {what}` (pid {os.getpid()}, since {time.strftime('%H:%M:%S')})\n")
            handle.flush()
            for leftover in [*self.root.glob("data/.*.tmp"), *self.root.glob("data/.*.old-*")]:
                shutil.rmtree(leftover, ignore_errors=True)
            yield
        finally:
            handle.close()

    def stage_dir(self, stage: str) -> Path:
        return self.root / "data" / f"{STAGE_NAMES.index(stage) + 1:02d}-{stage}"

    def unknown_keys(self) -> list[str]:
        return sorted(set(self.config) - _TOP_LEVEL - set(STAGE_NAMES))


def init_workspace(root: str | Path, sources: list[str], name: str | None = None,
                   base_model: str = DEFAULT_BASE, gold_labels: str | None = None,
                   probes: str | None = None) -> Path:
    """Write DIR/persona.yaml pointing at the sources. Refuses to overwrite an existing config."""
    root = Path(root).expanduser().resolve()
    if not sources:
        raise UserError("init needs at least one --sources PATH (a file or a folder of transcripts/posts)")
    resolved = []
    for src in sources:
        path = Path(src).expanduser().resolve()
        if not path.exists():
            raise UserError(f"source {src} does not exist; pass existing files or folders to --sources")
        if path == root or root in path.parents:
            pass  # sources inside the workspace are allowed; they are still only read
        resolved.append(str(path))
    for label, value in (("gold labels", gold_labels), ("probes", probes)):
        if value and not Path(value).expanduser().exists():
            raise UserError(f"{label} file {value} does not exist")
    config_path = root / CONFIG_NAME
    if config_path.exists():
        raise UserError(f"{config_path} already exists; edit it, or choose another folder")
    root.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {
        "name": name or root.name,
        "base_model": base_model,
        "sources": resolved,
    }
    if gold_labels:
        config["gold_labels"] = str(Path(gold_labels).expanduser().resolve())
    if probes:
        config["probes"] = str(Path(probes).expanduser().resolve())
    header = (
        "# personatune workspace config. Sources are read, never copied or modified.\n"
        "# Per-stage settings go in sections named after the stage, e.g.\n"
        "#   chunk: {target_tokens: 140}\n"
        "#   build: {ratio: 10, cap: 10}\n"
        "# `personatune config DIR` prints every setting with its default and help.\n"
    )
    artifacts.write_text(config_path, header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    return config_path
