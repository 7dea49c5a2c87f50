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

VERSION = 4  # 2: the deploy split; provenance names a fact pair's segment; 3: rows trained as served; 4: persona vote
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
    if row.get("served"):
        where["served"] = row["served"]  # trained as served: "gold" (its own passage is there) or "distractors"
        where["passages"] = row.get("passages", [])
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


def plain_system(ws) -> str:
    """The system message of every row not trained as served, and of the runtimes with the card off."""
    from personatune.settings import resolve

    return resolve(Settings, ws.section("dataset")).system_prompt.replace("{name}", ws.name)


def inputs(ws, settings: Settings) -> dict:
    """Rows trained as served carry the card and the retrieval settings: an edited card rebuilds them. With
    `build.served_share: 0` no row carries the card, and it is neither written nor read."""
    from personatune.data.build import Settings as BuildSettings
    from personatune.data.card import live_card
    from personatune.settings import resolve

    if resolve(BuildSettings, ws.section("build")).served_share == 0:
        return {"person": ws.name}
    return {"person": ws.name, "card": artifacts.sha256_text(live_card(ws) or ""), "rag": ws.section("rag")}


def run(ctx: StageContext, settings: Settings) -> dict:
    from personatune.data.served import served_systems

    system = settings.system_prompt.replace("{name}", ctx.ws.name)
    rows = {split: artifacts.read_jsonl(ctx.previous / f"{split}.jsonl") if (ctx.previous / f"{split}.jsonl").exists()
            else [] for split in SPLITS}
    served, report = served_systems(ctx.ws, rows, system, log=ctx.log)
    counts = {}
    for split, split_rows in rows.items():
        systems = served.get(split, {})
        for row in split_rows:
            if row["id"] in systems:
                row["passages"], row["served"] = systems[row["id"]][1:]
        for fmt in settings.formats:
            counts[f"{fmt}/{split}"] = artifacts.write_jsonl(
                ctx.out / fmt / f"{split}.jsonl",
                (CONVERT[fmt](r, systems[r["id"]][0] if r["id"] in systems else system) for r in split_rows))
    if report:
        ctx.log(f"  trained as served: {report['deploy']['rows']} deploy rows with the card and "
                f"{report['top_k']} retrieved passages ({report['deploy']['system_words_mean']:.0f} words of system "
                "message on average)")
    ctx.log(f"  wrote {', '.join(settings.formats)} to {ctx.ws.stage_dir('dataset').relative_to(ctx.ws.root)}/")
    return {"files": counts, "formats": settings.formats, "system_prompt": system, "served": report}


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
