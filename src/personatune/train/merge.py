"""merge: fold a run's LoRA adapter into its base model and save a standalone Hugging Face folder.

The base model comes from the run record, never asked again. The folder has safetensors weights,
the tokenizer and its chat template (the documented default where the base had none).
"""

from __future__ import annotations

from pathlib import Path

from personatune import artifacts
from personatune.errors import UserError
from personatune.train.runs import find_run, update_manifest
from personatune.workspace import Workspace


def merge(ws: Workspace, run_id: str | None = None, out: Path | None = None, log=print) -> Path:
    import torch
    from peft import PeftModel

    from personatune.registry import load_model
    from personatune.train.batches import ensure_chat_template

    run_dir = find_run(ws, run_id)
    record = artifacts.read_json(run_dir / "run.json")
    adapter = run_dir / "adapter"
    if record.get("status") != "finished" or not (adapter / "adapter_config.json").exists():
        raise UserError(f"run {run_dir.name} has no finished adapter (status {record.get('status')}); "
                        f"finish it with `personatune train {ws.root} --resume {run_dir.name}`")
    target = out or (run_dir / "merged")
    log(f"merging {run_dir.name} into {record['base_model']} -> {target}")
    base, tokenizer = load_model(record["base_model"], dtype=torch.float32)
    ensure_chat_template(tokenizer)
    merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
    with artifacts.atomic_dir(target) as tmp:
        merged.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp))
        artifacts.write_json(tmp / "personatune.json", {"run_id": run_dir.name, "base_model": record["base_model"],
                                                         "dataset_hash": record.get("dataset_hash")})
    update_manifest(run_dir, merged=str(target))
    return target
