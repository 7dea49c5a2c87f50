"""Write GGUF files for a fine-tuned model: the merged weights, or the LoRA adapter alone.

The base model's own GGUF is the template: its metadata (architecture hyper-parameters, the
tokenizer llama.cpp already understands, special token ids) is copied, and each of its tensors is
replaced by the merged weight of the same name, with the two layout changes llama.cpp expects
(Llama's rotary Q/K rows interleaved, Gemma's norms stored as 1 + w). Starting from a file
llama.cpp already reads means nothing is re-derived that could drift.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from personatune.errors import UserError
from personatune.runtime.gguf_engine import native_output_to

FLOAT_TYPES = ("f32", "f16", "bf16")
_SKIP_KEYS = {"general.architecture", "general.file_type", "general.quantization_version", "general.type",
              "general.name", "tokenizer.chat_template"}


@dataclass
class Layout:
    arch: str
    n_blocks: int
    n_head: int
    n_head_kv: int


def read_layout(reader) -> Layout:
    arch = reader.fields["general.architecture"].contents()

    def value(key: str, default=None):
        field = reader.fields.get(f"{arch}.{key}")
        return default if field is None else int(field.contents())

    n_head = value("attention.head_count")
    return Layout(arch, value("block_count"), n_head, value("attention.head_count_kv", n_head))


def _permute_rotary(w: np.ndarray, n_head: int) -> np.ndarray:
    """HF's half-split rotary layout to the interleaved rows llama.cpp's Llama graph uses."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def to_gguf_layout(name: str, w: np.ndarray, layout: Layout) -> np.ndarray:
    if layout.arch == "llama":
        if name.endswith("attn_q.weight") or name.endswith("attn_q.weight.lora_b"):
            return _permute_rotary(w, layout.n_head)
        if name.endswith("attn_k.weight") or name.endswith("attn_k.weight.lora_b"):
            return _permute_rotary(w, layout.n_head_kv)
    if layout.arch.startswith("gemma") and name.endswith("norm.weight"):
        return w + 1.0  # Gemma stores RMSNorm scales as (1 + w); transformers subtracts 1 when reading
    return w


def gguf_names(hf_names, layout: Layout) -> dict[str, str]:
    """Hugging Face tensor name -> GGUF tensor name, via gguf's own mapping tables."""
    import gguf

    arch = {v: k for k, v in gguf.MODEL_ARCH_NAMES.items()}.get(layout.arch)
    if arch is None:
        raise UserError(f"gguf does not know the architecture {layout.arch!r}")
    table = gguf.get_tensor_name_map(arch, layout.n_blocks)
    out = {}
    for hf in hf_names:
        name = table.get_name(hf.removeprefix("model.language_model.").removeprefix("language_model."),
                              try_suffixes=(".weight", ".bias"))
        if name is None and hf.startswith("model.language_model."):
            name = table.get_name("model." + hf.removeprefix("model.language_model."), try_suffixes=(".weight", ".bias"))
        if name is not None:
            out[hf] = name
    return out


def copy_metadata(writer, reader, skip=_SKIP_KEYS) -> None:
    import gguf

    for key, field in reader.fields.items():
        if key.startswith("GGUF.") or key in skip:
            continue
        vtype = field.types[0]
        sub = field.types[-1] if vtype == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(key, field.contents(), vtype, sub)


def _encode(name: str, w: np.ndarray, dtype: str):
    """(array, raw ggml type or None) for a float output type; norms and vectors stay f32."""
    import gguf

    if dtype == "f32" or w.ndim == 1:
        return w.astype(np.float32), None
    if dtype == "f16":
        return w.astype(np.float16), None
    quantized = gguf.quants.quantize(w.astype(np.float32), gguf.GGMLQuantizationType.BF16)
    return quantized, gguf.GGMLQuantizationType.BF16


def _finish(writer, tmp: Path, final: Path) -> None:
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file(progress=False)
    writer.close()
    os.replace(tmp, final)


def write_model(weights: dict[str, np.ndarray], base_gguf: Path, out: Path, dtype: str,
                chat_template: str, name: str, extra: dict[str, str] | None = None) -> Path:
    """A full-model GGUF: `weights` (HF names, fp32) in the base GGUF's tensor set and metadata."""
    import gguf

    if dtype not in FLOAT_TYPES:
        raise ValueError(dtype)
    reader = gguf.GGUFReader(str(base_gguf))
    layout = read_layout(reader)
    names = gguf_names(weights, layout)
    by_gguf = {g: hf for hf, g in names.items()}
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        writer = gguf.GGUFWriter(str(tmp), layout.arch)
        copy_metadata(writer, reader)
        writer.add_type(gguf.GGUFType.MODEL)
        writer.add_name(name)
        writer.add_file_type({"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                              "bf16": gguf.LlamaFileType.MOSTLY_BF16}[dtype])
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        writer.add_chat_template(chat_template)
        for key, value in (extra or {}).items():
            writer.add_string(key, value)
        for tensor in reader.tensors:
            expected = tuple(int(d) for d in reversed(tensor.shape))
            hf = by_gguf.get(tensor.name)
            if hf is None:  # a tensor the HF model has no counterpart for (e.g. rope factors): keep the base's
                w = gguf.quants.dequantize(tensor.data, tensor.tensor_type).reshape(expected).astype(np.float32)
            else:
                w = to_gguf_layout(tensor.name, weights[hf], layout)
            if tuple(w.shape) != expected:
                raise UserError(f"tensor {tensor.name}: merged shape {tuple(w.shape)} does not match the base "
                                f"GGUF's {expected}; was the run trained on a different base model?")
            data, raw = _encode(tensor.name, w, dtype)
            writer.add_tensor(tensor.name, data, raw_dtype=raw)
        missing = sorted(set(weights) - set(names) - {"lm_head.weight"})
        if missing:
            raise UserError(f"{len(missing)} merged tensors have no place in the GGUF (e.g. {missing[0]}); "
                            "this architecture is not supported for export yet")
        _finish(writer, tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def write_adapter(lora: dict[str, np.ndarray], alpha: float, base_gguf: Path, out: Path, name: str) -> Path:
    """A LoRA-only GGUF for llama.cpp (`--lora`) and Ollama (`ADAPTER`): lora_a / lora_b per target."""
    import gguf

    reader = gguf.GGUFReader(str(base_gguf))
    layout = read_layout(reader)
    targets: dict[str, dict[str, np.ndarray]] = {}
    for key, w in lora.items():
        # base_model.model.<hf module>.lora_A.weight
        module, _, part = key.removeprefix("base_model.model.").rpartition(".lora_")
        targets.setdefault(module + ".weight", {})[part.split(".")[0]] = w
    names = gguf_names(targets, layout)
    unmapped = sorted(set(targets) - set(names))
    if unmapped:
        raise UserError(f"adapter target {unmapped[0]} has no GGUF tensor name; cannot export the adapter")
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        writer = gguf.GGUFWriter(str(tmp), layout.arch)
        writer.add_type(gguf.GGUFType.ADAPTER)
        writer.add_name(name)
        writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
        writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, float(alpha))
        for hf, base_name in sorted(names.items(), key=lambda kv: kv[1]):
            a, b = targets[hf]["A"], targets[hf]["B"]
            writer.add_tensor(base_name + ".lora_a", a.astype(np.float32))
            writer.add_tensor(base_name + ".lora_b", to_gguf_layout(base_name + ".lora_b", b, layout).astype(np.float32))
        _finish(writer, tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


QUANT_FTYPES = {"q8_0": "LLAMA_FTYPE_MOSTLY_Q8_0", "q4_0": "LLAMA_FTYPE_MOSTLY_Q4_0",
                "q4_1": "LLAMA_FTYPE_MOSTLY_Q4_1", "q5_0": "LLAMA_FTYPE_MOSTLY_Q5_0",
                "q5_1": "LLAMA_FTYPE_MOSTLY_Q5_1", "q4_k_m": "LLAMA_FTYPE_MOSTLY_Q4_K_M",
                "q4_k_s": "LLAMA_FTYPE_MOSTLY_Q4_K_S", "q5_k_m": "LLAMA_FTYPE_MOSTLY_Q5_K_M",
                "q6_k": "LLAMA_FTYPE_MOSTLY_Q6_K", "q3_k_m": "LLAMA_FTYPE_MOSTLY_Q3_K_M"}


def quantize(source: Path, out: Path, kind: str, threads: int) -> Path:
    """llama.cpp's own quantizer (the library behind `llama-quantize`), from the f16 file."""
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, QUANT_FTYPES[kind])
    params.nthread = threads
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    try:
        with native_output_to(out.with_name(f"{out.stem}.quantize.log")):  # its per-tensor report, kept
            code = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
        if code != 0:
            raise UserError(f"llama.cpp could not quantize {source.name} to {kind} (code {code}); "
                            f"see {out.stem}.quantize.log")
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out
