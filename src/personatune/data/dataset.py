"""dataset: write the built splits as training files: chat `messages` JSONL, Alpaca and ShareGPT.

`messages` is the OpenAI fine-tuning shape (plus a `metadata` object with provenance); Alpaca
carries provenance in its `context` field. `load_dataset(DIR)` returns a `datasets.Dataset`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from personatune import artifacts
from personatune.data.stage import StageContext
from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting

VERSION = 2  # 2: the deploy split; provenance names a fact pair's segment
FORMATS = ("messages", "alpaca", "sharegpt")
SPLITS = ("train", "validation", "heldout", "deploy")  # deploy: train + the held-out persona rows


@dataclass
class Settings(BaseSettings):
    formats: list[str] = setting(default_factory=lambda: list(FORMATS), help="formats to write: messages, alpaca, sharegpt")
    system_prompt: str = setting("You are {name}.", help="system message of every example ({name} = the person's "
                                                         "name); empty = the base model's own default, which for "
                                                         "SmolLM2 says 'You are SmolLM' - wrong for a persona")

    def problems(self) -> list[str]:
        bad = set(self.formats) - set(FORMATS)
        return [f"formats has unknown entries {sorted(bad)}; choose from {', '.join(FORMATS)}"] if bad else []


def provenance(row: dict) -> dict:
    where = {"source": row.get("source"), "segment_id": row.get("segment_id"), "label": row.get("label"),
             "subtype": row.get("subtype")}
    if row.get("start") is not None:
        where["start"] = row["start"]
    if row.get("offset") is not None:
        where["offset"] = row["offset"]
    if row.get("parent"):
        where["parent"] = row["parent"]  # a fact pair's segment
    return where


def to_messages(row: dict, system: str) -> dict:
    messages = ([{"role": "system", "content": system}] if system else []) + [
        {"role": "user", "content": row["question"]}, {"role": "assistant", "content": row["answer"]}]
    return {"messages": messages, "metadata": provenance(row)}


def to_alpaca(row: dict, system: str) -> dict:
    where = provenance(row)
    context = f"{Path(where['source'] or '').name}" + (f" @ {where['start']:.1f}s" if "start" in where else
                                                     f" @ char {where['offset']}" if "offset" in where else "")
    return {"instruction": row["question"], "input": "", "output": row["answer"], "system": system,
            "context": context, "metadata": where}


def to_sharegpt(row: dict, system: str) -> dict:
    turns = ([{"from": "system", "value": system}] if system else []) + [
        {"from": "human", "value": row["question"]}, {"from": "gpt", "value": row["answer"]}]
    return {"conversations": turns, "metadata": provenance(row)}


CONVERT = {"messages": to_messages, "alpaca": to_alpaca, "sharegpt": to_sharegpt}


def inputs(ws, settings: Settings) -> dict:
    return {"person": ws.name}


def run(ctx: StageContext, settings: Settings) -> dict:
    system = settings.system_prompt.replace("{name}", ctx.ws.name)
    counts = {}
    for fmt in settings.formats:
        for split in SPLITS:
            path = ctx.previous / f"{split}.jsonl"
            rows = artifacts.read_jsonl(path) if path.exists() else []
            counts[f"{fmt}/{split}"] = artifacts.write_jsonl(ctx.out / fmt / f"{split}.jsonl",
                                                             (CONVERT[fmt](r, system) for r in rows))
    ctx.log(f"  wrote {', '.join(settings.formats)} to {ctx.ws.stage_dir('dataset').relative_to(ctx.ws.root)}/")
    return {"files": counts, "formats": settings.formats, "system_prompt": system}


def load_dataset(workspace: str | Path, split: str = "train", fmt: str = "messages"):
    """The built split as a `datasets.Dataset` (one call, no config)."""
    from datasets import Dataset

    from personatune.workspace import Workspace

    ws = Workspace.open(workspace)
    path = ws.stage_dir("dataset") / fmt / f"{split}.jsonl"
    if split not in SPLITS or fmt not in FORMATS:
        raise UserError(f"split must be one of {SPLITS} and format one of {FORMATS}")
    if not path.exists():
        raise UserError(f"{path} does not exist; run `personatune run {ws.root}` (or enable the {fmt} format)")
    return Dataset.from_list(artifacts.read_jsonl(path))
