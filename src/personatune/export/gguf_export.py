"""export: a run's merged model as GGUF files for llama.cpp and Ollama, verified before it is handed over.

    DIR/export/<run>/persona-f16.gguf      merged model, f16 (always written: the quantizer's source)
    DIR/export/<run>/persona-<quant>.gguf  q8_0, 4-bit, ... made by llama.cpp's own quantizer
    DIR/export/<run>/base-f16.gguf         the base model, for the adapter
    DIR/export/<run>/adapter-f16.gguf      the LoRA adapter alone (llama.cpp --lora, Ollama ADAPTER)
    DIR/export/<run>/Modelfile             Ollama: FROM the q8_0 file, TEMPLATE, stops, SYSTEM, PARAMETERs
    DIR/export/<run>/Modelfile.adapter     Ollama: FROM base-f16 + ADAPTER
    DIR/export/<run>/verify.json           parity of every file against the Hugging Face model

Verification loads each file in llama.cpp and decodes the probe prompts greedily from the same
token ids as the Hugging Face model: f16 must give the identical first 24 tokens; quantized files
report how far they agree. A file that talks nonsense or never stops is caught here, not by the user.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from personatune import artifacts
from personatune.errors import UserError
from personatune.export.gguf_io import (
    FLOAT_TYPES,
    QUANT_FTYPES,
    quantize,
    write_adapter,
    write_model,
)
from personatune.export.verify import PARITY_TOKENS
from personatune.workspace import Workspace


@dataclass
class ExportResult:
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    verify: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return all(v.get("ok", True) for v in self.verify.get("files", {}).values())

    def summary(self) -> str:
        lines = [f"exported to {self.folder}"]
        for kind, path in self.files.items():
            size = path.stat().st_size / 2**20
            line = f"  {path.name:28} {size:8.1f} MiB"
            check = self.verify.get("files", {}).get(kind)
            if check:
                ties = f" ({check['near_ties']} near-tie tokens)" if check.get("near_ties") else ""
                line += (f"   parity: {check['identical']}/{check['prompts']} prompts identical{ties} for "
                         f"{PARITY_TOKENS} tokens, agreement {check['agreement']:.2f}"
                         + ("" if check["ok"] else "   FAILED"))
            lines.append(line)
        if self.verify.get("tokenizer_match") is False:
            lines.append("  WARNING: llama.cpp tokenizes the prompts differently from the Hugging Face tokenizer")
        lines.append(f"  Ollama: cd {self.folder} && ollama create NAME -f Modelfile")
        return "\n".join(lines)


def read_safetensors(folder: Path) -> dict[str, np.ndarray]:
    from safetensors.numpy import load_file

    files = sorted(folder.glob("*.safetensors"))
    if not files:
        raise UserError(f"{folder} has no .safetensors weights")
    weights: dict[str, np.ndarray] = {}
    for path in files:
        weights.update({k: v.astype(np.float32) for k, v in load_file(str(path)).items()})
    return weights


def base_gguf(base_model: str) -> Path:
    from personatune.registry import resolve

    source = resolve(base_model)
    if source.kind != "gguf":
        raise UserError(f"GGUF export needs a base model that came as GGUF (the embedded models, or a .gguf "
                        f"file as base_model); {base_model!r} is a {source.kind}. Convert the merged folder with "
                        "llama.cpp's convert_hf_to_gguf.py instead")
    return Path(source.path)


def _lora_alpha(config: dict) -> float:
    alpha = float(config["lora_alpha"])
    # llama.cpp scales by alpha / r; rsLoRA scales by alpha / sqrt(r): fold the difference into alpha.
    return alpha * math.sqrt(config["r"]) if config.get("use_rslora") else alpha


def export(ws: Workspace, run_id: str | None = None, quants=("f16", "q8_0", "q4_k_m"), adapter: bool = True,
           verify: bool = True, settings=None, log=print) -> ExportResult:
    from transformers import AutoTokenizer

    from personatune.device import cpu_threads
    from personatune.export.modelfile import write_modelfiles
    from personatune.registry import materialize
    from personatune.runtime.engines import export_dir
    from personatune.train.merge import merge
    from personatune.train.runs import find_run

    unknown = [q for q in quants if q not in FLOAT_TYPES and q not in QUANT_FTYPES]
    if unknown:
        raise UserError(f"unknown GGUF type(s) {', '.join(unknown)}; choose from "
                        f"{', '.join(FLOAT_TYPES + tuple(QUANT_FTYPES))}")
    run_dir = find_run(ws, run_id)
    record = artifacts.read_json(run_dir / "run.json")
    source_gguf = base_gguf(record["base_model"])
    merged = run_dir / "merged"
    if not (merged / "config.json").exists():
        merged = merge(ws, run_dir.name, log=log)
    folder = export_dir(ws, run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    result = ExportResult(folder)
    template = AutoTokenizer.from_pretrained(str(merged)).chat_template
    stamp = {"personatune.run_id": run_dir.name, "personatune.base_model": record["base_model"]}

    weights = read_safetensors(merged)
    for kind in ["f16", *[q for q in quants if q in FLOAT_TYPES and q != "f16"]]:
        log(f"writing persona-{kind}.gguf")
        result.files[kind] = write_model(weights, source_gguf, folder / f"persona-{kind}.gguf", kind, template,
                                         ws.name, stamp)
    del weights
    for kind in [q for q in quants if q in QUANT_FTYPES]:
        log(f"quantizing to {kind} (llama.cpp)")
        result.files[kind] = quantize(result.files["f16"], folder / f"persona-{kind}.gguf", kind, cpu_threads())
    if adapter:
        adapter_dir = run_dir / "adapter"
        config = artifacts.read_json(adapter_dir / "adapter_config.json")
        log("writing base-f16.gguf and adapter-f16.gguf (LoRA only)")
        result.files["base"] = write_model(read_safetensors(materialize(record["base_model"])), source_gguf,
                                           folder / "base-f16.gguf", "f16", template, f"{ws.name} (base)", stamp)
        result.files["adapter"] = write_adapter(read_safetensors(adapter_dir), _lora_alpha(config), source_gguf,
                                                folder / "adapter-f16.gguf", f"{ws.name} (LoRA)")
    if verify:
        from personatune.export.verify import verify_export

        result.verify = verify_export(ws, merged, result.files, log=log)
        artifacts.write_json(folder / "verify.json", result.verify)
    write_modelfiles(ws, folder, result.files, template, settings, log=log)
    return result
