"""Where personatune keeps what it can rebuild: dequantized models, embeddings.

PERSONATUNE_CACHE wins; otherwise $XDG_CACHE_HOME/personatune; otherwise ~/.cache/personatune.
"""

from __future__ import annotations

import os
from pathlib import Path

from personatune.errors import UserError


def cache_root() -> Path:
    explicit = os.environ.get("PERSONATUNE_CACHE")
    if explicit:
        root = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(base) / "personatune"
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-test-{os.getpid()}"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise UserError(f"cannot write the cache folder {root} ({exc.strerror or exc}); set PERSONATUNE_CACHE "
                        "to a folder you can write") from None
    return root
