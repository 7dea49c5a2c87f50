"""Shared fixtures. Models are cached once per test session in a folder of our own, so the suite
never touches the user's cache and the one-time GGUF conversion is paid once."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"
SESSION_CACHE = ROOT / ".cache" / "test-session"
os.environ["PERSONATUNE_CACHE"] = str(SESSION_CACHE)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture
def browser():
    """Debian's headless Chromium. `make test` installs it (the sysdeps target); a missing browser is a
    failure, not a skip."""
    from browser import Browser, find_chromium

    executable = find_chromium()
    assert executable is not None, "chromium is not installed: run `make sysdeps` (apt-get install chromium)"
    browser = Browser(executable)
    yield browser
    browser.close()


@pytest.fixture
def example_ws(tmp_path: Path):
    """A workspace over the bundled example persona, with gold labels and probes."""
    from personatune.workspace import Workspace, init_workspace

    init_workspace(tmp_path / "ws", [str(EXAMPLES / "creator")], name="Marta Kowalczyk",
                   gold_labels=str(EXAMPLES / "gold_labels.jsonl"), probes=str(EXAMPLES / "probes.yaml"))
    return Workspace.open(tmp_path / "ws")


@pytest.fixture(scope="session")
def example_built(tmp_path_factory):
    """The example persona run once through every stage; tests read its artifacts."""
    from personatune.data.runner import run_pipeline
    from personatune.workspace import Workspace, init_workspace

    root = tmp_path_factory.mktemp("example") / "ws"
    init_workspace(root, [str(EXAMPLES / "creator")], name="Marta Kowalczyk",
                   gold_labels=str(EXAMPLES / "gold_labels.jsonl"), probes=str(EXAMPLES / "probes.yaml"))
    ws = Workspace.open(root)
    results = run_pipeline(ws, log=lambda _: None)
    return ws, {r.name: r for r in results}


def copy_tree(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst
