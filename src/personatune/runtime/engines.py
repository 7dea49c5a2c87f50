"""Opening a model by what the user calls it: a run's merged model or adapter, the base, a GGUF file."""

from __future__ import annotations

from pathlib import Path

from personatune.errors import UserError
from personatune.runtime.generation import Engine
from personatune.runtime.gguf_engine import GGUFEngine
from personatune.runtime.hf_engine import HFEngine


def export_dir(ws, run_dir: Path) -> Path:
    return ws.root / "export" / run_dir.name


def open_engine(ws, model: str = "merged", run: str | None = None, context: int = 2048,
                name: str | None = None, log=print) -> Engine:
    """Load a model by what the user calls it.

    merged | adapter | base             the run's merged folder, base + the run's adapter, the base model
    gguf | gguf:QUANT                   the run's exported GGUF (q8_0 by default) through llama.cpp
    PATH.gguf | PATH (HF folder) | NAME any GGUF, Hugging Face folder, embedded name or hub id
    """
    import torch

    from personatune.registry import load_model
    from personatune.train.runs import find_run

    label = name or model
    if model == "base":
        log(f"loading base model {ws.base_model}")
        base, tokenizer = load_model(ws.base_model, dtype=torch.float32)
        return HFEngine(base, tokenizer, label)
    if model in ("merged", "adapter") or model == "gguf" or model.startswith("gguf:"):
        run_dir = find_run(ws, run)
        if model == "merged":
            folder = run_dir / "merged"
            if not (folder / "config.json").exists():
                raise UserError(f"run {run_dir.name} has no merged model; run `personatune merge {ws.root} "
                                f"--run {run_dir.name}` (or use --model adapter)")
            log(f"loading merged model {folder}")
            merged, tokenizer = load_model(str(folder), dtype=torch.float32)
            return HFEngine(merged, tokenizer, label)
        if model == "adapter":
            from peft import PeftModel

            from personatune import artifacts

            record = artifacts.read_json(run_dir / "run.json")
            if not (run_dir / "adapter" / "adapter_config.json").exists():
                raise UserError(f"run {run_dir.name} has no adapter yet; finish it with "
                                f"`personatune train {ws.root} --resume {run_dir.name}`")
            log(f"loading {record['base_model']} + adapter of {run_dir.name}")
            base, tokenizer = load_model(record["base_model"], dtype=torch.float32)
            return HFEngine(PeftModel.from_pretrained(base, str(run_dir / "adapter")), tokenizer, label)
        quant = model.partition(":")[2] or "q8_0"
        path = export_dir(ws, run_dir) / f"persona-{quant}.gguf"
        if not path.exists():
            raise UserError(f"{path} does not exist; write it with `personatune export {ws.root} "
                            f"--run {run_dir.name} --quant {quant}`")
        log(f"loading {path} (llama.cpp)")
        return GGUFEngine(path, context=context, name=label)
    if model.endswith(".gguf"):
        log(f"loading {model} (llama.cpp)")
        return GGUFEngine(Path(model).expanduser(), context=context, name=label)
    log(f"loading {model}")
    loaded, tokenizer = load_model(model, dtype=torch.float32)
    return HFEngine(loaded, tokenizer, label)
