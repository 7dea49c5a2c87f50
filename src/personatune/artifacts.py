"""Plain-file artifacts written atomically, plus the hashes stages use to decide whether to rerun.

Every write goes to a temporary file in the destination folder and is renamed into place, so a
crash or Ctrl-C never leaves a half-written file that a later stage would trust.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[Any]:
    """Open a temporary sibling of `path`; on success it replaces `path`, on error it is removed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
        _fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text(path: str | Path, text: str) -> None:
    with atomic_open(path) as handle:
        handle.write(text)


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    return count


def read_json(path: str | Path) -> Any:
    return json.loads(Path(path).read_text(encoding="utf-8"))


def read_jsonl(path: str | Path) -> list[dict]:
    rows = []
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if line:
                rows.append(json.loads(line))
    return rows


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_text(text: str) -> str:
    return sha256_bytes(text.encode("utf-8"))


def sha256_json(obj: Any) -> str:
    return sha256_text(json.dumps(obj, sort_keys=True, ensure_ascii=False, default=str))


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@contextmanager
def atomic_dir(final: str | Path) -> Iterator[Path]:
    """Build a folder under a temporary name; swap it into place only when the block succeeds.

    The old folder stays intact until the new one is complete, so an interrupted stage leaves the
    previous good output (or nothing), never a mix.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield staging
        trash = None
        if final.exists():
            trash = final.with_name(f".{final.name}.old-{os.getpid()}")
            if trash.exists():
                shutil.rmtree(trash)
            os.replace(final, trash)
        os.replace(staging, final)
        _fsync_dir(final.parent)
        if trash is not None:
            shutil.rmtree(trash, ignore_errors=True)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise


class KeyedLog:
    """Results already computed, by key: an append-only JSON-lines file, one `{"key", "value"}` per line.

    Each line is flushed to disk as it is written, so a crash, a timeout or Ctrl-C loses at most the
    line being written; a line cut short is skipped on reading and computed again.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.entries: dict[str, Any] = {}
        if self.path.exists():
            for line in self.path.read_bytes().split(b"\n"):
                try:  # a line cut short, even inside a multi-byte character, is skipped
                    entry = json.loads(line.decode("utf-8"))
                    # "questions": the question writer's cache before it was a KeyedLog
                    self.entries[entry["key"]] = entry["value"] if "value" in entry else entry["questions"]
                except (UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError):
                    continue

    def __contains__(self, key: str) -> bool:
        return key in self.entries

    def __getitem__(self, key: str) -> Any:
        return self.entries[key]

    def put_many(self, items: Iterable[tuple[str, Any]]) -> None:
        lines = []
        for key, value in items:
            self.entries[key] = value
            lines.append(json.dumps({"key": key, "value": value}, ensure_ascii=False) + "\n")
        if not lines:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a+b") as handle:
            handle.seek(0, os.SEEK_END)
            if handle.tell():  # a crash mid-line left no newline: end that line, or the next would join it
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    lines.insert(0, "\n")
            handle.write("".join(lines).encode("utf-8"))
            handle.flush()
            os.fsync(handle.fileno())

    def put(self, key: str, value: Any) -> None:
        self.put_many([(key, value)])
