"""Where personatune keeps what it can rebuild: dequantized models, embeddings.

PERSONATUNE_CACHE wins; otherwise $XDG_CACHE_HOME/personatune; otherwise ~/.cache/personatune.
"""

from __future__ import annotations

import os
from pathlib import Path

from personatune.errors import UserError

_WRITABLE: set[Path] = set()  # folders already proven writable in this process: probe once, not on every call


def cache_root() -> Path:
    explicit = os.environ.get("PERSONATUNE_CACHE")
    if explicit:
        root = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(base) / "personatune"
    if root in _WRITABLE:
        return root
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
        _WRITABLE.add(root)
    except OSError as exc:
        raise UserError(f"cannot write the cache folder {root} ({exc.strerror or exc}); set PERSONATUNE_CACHE "
                        "to a folder you can write") from None
    return root
