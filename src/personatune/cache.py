"""Where personatune keeps what it can rebuild: dequantized models, embeddings.

PERSONATUNE_CACHE wins; otherwise $XDG_CACHE_HOME/personatune; otherwise ~/.cache/personatune.
"""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    explicit = os.environ.get("PERSONATUNE_CACHE")
    if explicit:
        root = Path(explicit)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        root = Path(base) / "personatune"
    root.mkdir(parents=True, exist_ok=True)
    return root
