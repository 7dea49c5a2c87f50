"""train: LoRA fine-tuning of the workspace's base model on its built dataset; one folder per run.

    DIR/runs/<run-id>/adapter/        adapter_model.safetensors + adapter_config.json (peft)
    DIR/runs/<run-id>/run.json        manifest: status, settings, dataset hash, versions, figures
    DIR/runs/<run-id>/metrics.jsonl   one line per optimizer step (loss, lr, tokens/s, val_loss)
    DIR/runs/<run-id>/checkpoints/    resumable state (adapter, optimizer, scheduler, RNG, data position)
    DIR/runs/<run-id>/best/           the adapter with the lowest validation loss
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import resource
import secrets
import socket
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from personatune import __version__, artifacts
from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting
from personatune.train.reporters import make_reporters
from personatune.workspace import Workspace


@dataclass
class Settings(BaseSettings):
    base_model: str = setting("", help="model to fine-tune; empty = the workspace's base_model (set it to compare, "
                                       "e.g. gemma3-270m pretrained against the default instruct model)")
    r: int = setting(16, help="LoRA rank")
    alpha: float = setting(32.0, help="LoRA alpha (the update is scaled by alpha / r)")
    dropout: float = setting(0.0, help="dropout on the LoRA input (0 by default: on a CPU its random masks cost ~24% "
                                       "of a step; persona rows already vary their questions)")
    target_modules: list[str] = setting(default_factory=lambda: ["all-linear"],
                                        help="modules that get LoRA: 'all-linear' or names like q_proj,v_proj")
    learning_rate: float = setting(1e-3, help="peak learning rate (1e-3 with replay: facts learned, tasks kept; "
                                              "docs/benchmarks.md)")
    fact_weight: float = setting(1.0, help="loss weight of fact-pair rows (a sentence answering a fact question)")
    fact_stop: bool = setting(False, help="true: fact-pair rows also teach the end of the turn (false, the default: "
                                          "their one-sentence answers teach the fact, not a length; docs/benchmarks.md)")
    schedule: str = setting("cosine", choices=("cosine", "linear", "constant"), help="decay after warmup")
    warmup_steps: int = setting(10, help="linear warmup steps")
    epochs: float = setting(2.0, help="passes over the training split (ignored when max_steps > 0); one pass over "
                                      "the example's read-off pairs is too few steps to learn its facts")
    max_steps: int = setting(0, help="optimizer steps to run; 0 = derive from epochs")
    batch_size: int = setting(8, help="examples per micro-batch (per process)")
    grad_accum: int = setting(1, help="micro-batches per optimizer step")
    micro_batch_tokens: int = setting(2048, help="most padded tokens (rows x longest row) computed in one forward "
                                                 "pass; a longer batch is computed in parts, the same loss and "
                                                 "gradients: caps memory (8 rows with the card in one pass peaked at "
                                                 "21 GB); 0 = a whole batch at once")
    max_length: int = setting(1536, help="longest example in tokens (prompt + answer; rows trained as served carry the "
                                         "card and passages, ~1,300 tokens)")
    overflow: str = setting("truncate", choices=("truncate", "drop"),
                            help="examples longer than max_length: cut the answer's end, or drop them (counted)")
    weight_decay: float = setting(0.0, help="AdamW weight decay on LoRA matrices")
    max_grad_norm: float = setting(1.0, help="gradient clipping")
    replay: int = setting(200, help="rows of general instructions (shipped with the package) answered by the base model "
                                  "itself, mixed into training so the model keeps its ordinary tasks; 0 = off")
    prompt_gradients: bool = setting(True, help="false: the prompt tokens all rows of a batch have (card, passages, "
                                                "question) are read without gradients (faster on long prompts)")
    seed: int = setting(0, help="seed for LoRA init, dropout and data order")
    eval_every: int = setting(40, help="validation loss every N steps (and at the end); 0 = never")
    validation_rows: int = setting(128, help="validation loss over at most this many validation rows (a seeded "
                                             "sample keeping each label's share; a big archive's 500 would cost "
                                             "minutes per evaluation); 0 = all")
    early_stopping_patience: int = setting(0, help="stop after N evaluations without a better validation loss; 0 = off")
    save_every: int = setting(50, help="checkpoint every N steps (and on Ctrl-C / SIGTERM)")
    keep_checkpoints: int = setting(2, help="checkpoints kept on disk")
    device: str = setting("auto", choices=("auto", "cuda", "mps", "cpu"), help="where to train")
    precision: str = setting("auto", choices=("auto", "float32", "bfloat16", "float16"),
                             help="auto: bf16 on CUDA GPUs that support it, else fp32")
    quantize: str = setting("none", choices=("none", "4bit"), help="4bit = QLoRA (CUDA + bitsandbytes only)")
    report_to: list[str] = setting(default_factory=list, help="also log to: tensorboard, mlflow")
    use_best: bool = setting(True, help="the run's adapter is the best validation checkpoint (else the last step)")
    persona_held_out: bool = setting(False, help="train on the train split only, keeping the held-out persona "
                                                 "segments unseen (to measure what only retrieval knows); by default "
                                                 "the model you keep learns every persona segment (the deploy split)")

    def problems(self) -> list[str]:
        out = []
        for name in ("r", "batch_size", "grad_accum", "max_length", "keep_checkpoints"):
            if getattr(self, name) < 1:
                out.append(f"{name} must be >= 1")
        if not 0 <= self.dropout < 1:
            out.append("dropout must be in [0, 1)")
        if self.micro_batch_tokens < 0:
            out.append("micro_batch_tokens must be >= 0 (0: a whole batch at once)")
        if self.validation_rows < 0:
            out.append("validation_rows must be >= 0 (0: all)")
        if self.learning_rate <= 0 or self.fact_weight <= 0:
            out.append("learning_rate and fact_weight must be > 0")
        if self.epochs <= 0 and self.max_steps <= 0:
            out.append("set epochs > 0 or max_steps > 0")
        bad = set(self.report_to) - {"tensorboard", "mlflow"}
        if bad:
            out.append(f"report_to has unknown entries {sorted(bad)}")
        return out


def versions() -> dict:
    out = {"personatune": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for name in ("torch", "transformers", "peft", "tokenizers"):
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def dataset_files(ws: Workspace, persona_held_out: bool = False) -> tuple[Path, Path, str]:
    from personatune.data.runner import read_record

    folder = ws.stage_dir("dataset")
    record = read_record(folder)
    train, val = folder / "messages" / "train.jsonl", folder / "messages" / "validation.jsonl"
    if not persona_held_out and (folder / "messages" / "deploy.jsonl").exists():
        train = folder / "messages" / "deploy.jsonl"
    if record is None or not train.exists():
        raise UserError(f"no built dataset in {ws.root}; run `personatune run {ws.root}` first "
                        "(the dataset stage must include the messages format)")
    if train.stat().st_size == 0:
        raise UserError(f"{train} is empty; check the build report (no training rows)")
    return train, val, record["output_hash"]


def dataset_changed(ws: Workspace, run_record: dict) -> bool:
    """Whether the built dataset is no longer the one `run_record`'s run trained on (a writer or setting changed)."""
    if not run_record.get("dataset_hash"):
        return False
    held_out = bool(run_record.get("settings", {}).get("persona_held_out"))
    return dataset_files(ws, held_out)[2] != run_record["dataset_hash"]


def new_run_id() -> str:
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)


def runs_root(ws: Workspace) -> Path:
    return ws.root / "runs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def run_status(run_dir: Path, record: dict | None = None) -> str:
    """The manifest's status, except that a "running" run whose process is gone (kill -9, power cut) is
    "killed", or "killed before its first checkpoint" when nothing of it can be resumed."""
    record = record if record is not None else artifacts.read_json(run_dir / "run.json")
    status = record.get("status", "unknown")
    if status != "running" or record.get("host") != socket.gethostname() or not record.get("pid"):
        return status
    if _alive(int(record["pid"])):
        return status
    has_checkpoint = (run_dir / "checkpoints").exists() and any((run_dir / "checkpoints").glob("step-*"))
    return "killed" if has_checkpoint else "killed before its first checkpoint"


def find_run(ws: Workspace, run_id: str | None) -> Path:
    root = runs_root(ws)
    runs = sorted(p for p in root.iterdir() if (p / "run.json").exists()) if root.exists() else []
    if not runs:
        raise UserError(f"no training runs in {ws.root}; run `personatune train {ws.root}` first")
    if run_id is None:
        # A run killed before its first checkpoint left nothing to use or resume: it is not "the latest run".
        usable = [p for p in runs if run_status(p) != "killed before its first checkpoint"]
        if not usable:
            raise UserError(f"the only run{'s' if len(runs) > 1 else ''} in {root} "
                            f"({', '.join(p.name for p in runs[-3:])}) {'were' if len(runs) > 1 else 'was'} "
                            f"killed before the first checkpoint; start a new one with `personatune train {ws.root}`")
        return usable[-1]
    matches = [p for p in runs if p.name == run_id or p.name.startswith(run_id)]
    if len(matches) != 1:
        raise UserError(f"run {run_id!r} {'is ambiguous' if matches else 'not found'}; "
                        f"runs: {', '.join(p.name for p in runs[-5:])}")
    return matches[0]


def build_model(base_model: str, settings: Settings, device):
    import torch
    from peft import LoraConfig, get_peft_model

    from personatune.registry import load_model
    from personatune.train.batches import ensure_chat_template

    kwargs = {}
    if settings.quantize == "4bit":
        if device.type != "cuda":
            raise UserError("quantize: 4bit (QLoRA) needs a CUDA GPU; use quantize: none on CPU/MPS")
        try:
            import bitsandbytes  # noqa: F401
            from transformers import BitsAndBytesConfig
        except ImportError:
            raise UserError("quantize: 4bit needs `pip install bitsandbytes`") from None
        kwargs["quantization_config"] = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                                           bnb_4bit_compute_dtype=device.torch_dtype)
    model, tokenizer = load_model(base_model, dtype=device.torch_dtype, **kwargs)
    added_template = ensure_chat_template(tokenizer)
    model.to(device.torch_device)
    if settings.quantize == "4bit":
        from peft import prepare_model_for_kbit_training
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    model.config.use_cache = False
    torch.manual_seed(settings.seed)  # LoRA A is initialised at random
    targets = settings.target_modules
    config = LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout,
                        target_modules="all-linear" if targets == ["all-linear"] else targets,
                        task_type="CAUSAL_LM", bias="none")
    try:
        peft_model = get_peft_model(model, config)
    except ValueError as exc:
        raise UserError(f"LoRA target_modules {targets}: {exc}") from None
    return peft_model, tokenizer, added_template


def train(ws: Workspace, settings: Settings, *, resume: str | None = None, log=print, progress: bool = True) -> Path:
    """Train a LoRA adapter; returns the run folder. `resume` = a run id (or "latest")."""
    import torch

    from personatune.device import pick_device
    from personatune.train import batches
    from personatune.train.batches import Example, encode_rows, validation_sample, what_is_trained
    from personatune.train.loop import (
        Dist,
        LoopConfig,
        Trainer,
        TrainingInterrupted,
        seed_everything,
    )
    from personatune.train.replay import rows_for_run

    train_path, val_path, dataset_hash = dataset_files(ws, settings.persona_held_out)
    base_model = settings.base_model or ws.base_model
    run_dir = None
    if resume:
        # A resumed run continues with the settings and base model it started with.
        run_dir = find_run(ws, None if resume == "latest" else resume)
        record = artifacts.read_json(run_dir / "run.json")
        if record.get("status") == "finished":
            raise UserError(f"run {run_dir.name} already finished ({record.get('steps')} steps); nothing to "
                            f"resume. Merge it with `personatune merge {ws.root} --run {run_dir.name}` or start a "
                            f"new run with `personatune train {ws.root}`")
        # A run started before `validation_rows` existed validated on every row: keep comparing like with like.
        settings = Settings(**{"validation_rows": 0, **record["settings"]})
        base_model = record["base_model"]
        if record["dataset_hash"] != dataset_hash:
            raise UserError(f"the dataset changed since run {run_dir.name} started; resuming would mix data. "
                            "Start a new run instead")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(settings.device, settings.precision, local_rank if "WORLD_SIZE" in os.environ else None)
    dist = Dist(device.type)
    if run_dir is None:
        run_dir = runs_root(ws) / dist.broadcast(new_run_id())
    seed_everything(settings.seed)
    model, tokenizer, added_template = build_model(base_model, settings, device)
    pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    train_rows = artifacts.read_jsonl(train_path)
    examples, enc_report = encode_rows(tokenizer, train_rows, settings.max_length, settings.overflow, str(train_path),
                                       settings.fact_weight, settings.fact_stop)
    val_rows = validation_sample(artifacts.read_jsonl(val_path) if val_path.exists() else [],
                                 settings.validation_rows, settings.seed)
    trained, served = what_is_trained(train_rows)
    val_examples, _ = encode_rows(tokenizer, val_rows, settings.max_length, settings.overflow, str(val_path))
    if not examples:
        raise UserError(f"no usable training examples in {train_path} ({enc_report.dropped} longer than "
                        f"max_length={settings.max_length}); raise train.max_length")
    replayed = rows_for_run(run_dir, ws.root / "cache" / "replay.jsonl", model, tokenizer, base_model, train_rows,
                            settings, bool(resume), dist, log)
    extra, _ = encode_rows(tokenizer, replayed, settings.max_length, settings.overflow, "replay rows")
    examples += [Example(e.ids, e.prompt_len, len(train_rows) + e.index) for e in extra]
    total_steps = batches.step_count(settings, len(examples), dist.world)
    cfg = LoopConfig(learning_rate=settings.learning_rate, warmup_steps=min(settings.warmup_steps, total_steps // 2),
                     schedule=settings.schedule, total_steps=total_steps, batch_size=settings.batch_size,
                     grad_accum=settings.grad_accum, seed=settings.seed, eval_every=settings.eval_every,
                     save_every=settings.save_every, early_stopping_patience=settings.early_stopping_patience,
                     keep_checkpoints=settings.keep_checkpoints, weight_decay=settings.weight_decay,
                     max_grad_norm=settings.max_grad_norm, prompt_gradients=settings.prompt_gradients,
                     micro_batch_tokens=settings.micro_batch_tokens)
    manifest = {
        "run_id": run_dir.name, "status": "running", "base_model": base_model,
        "dataset": str(train_path.parent), "dataset_hash": dataset_hash, "settings": settings.to_dict(),
        "training_split": train_path.stem, "persona_segments_trained": trained, "served_rows": served,
        "replay_rows": len(replayed),
        "device": {"type": device.type, "dtype": device.dtype, "processes": dist.world,
                   "threads": torch.get_num_threads()},
        "versions": versions(), "examples": enc_report.to_dict(), "validation_examples": len(val_examples),
        "total_steps": total_steps, "chat_template": "default (added)" if added_template else "tokenizer",
        "started": time.strftime("%Y-%m-%dT%H:%M:%S"), "pid": os.getpid(), "host": socket.gethostname(),
    }
    if dist.main:
        run_dir.mkdir(parents=True, exist_ok=True)
        if not resume:
            artifacts.write_json(run_dir / "settings.json", settings.to_dict())
            artifacts.write_json(run_dir / "run.json", manifest)
            if replayed:
                artifacts.write_jsonl(run_dir / "replay.jsonl", replayed)
        if enc_report.truncated or enc_report.dropped:
            log(f"  {enc_report.truncated} examples truncated, {enc_report.dropped} dropped (longer than "
                f"max_length={settings.max_length})")
        log(f"training {base_model} + LoRA r={settings.r} on {len(examples)} examples for {total_steps} steps "
            f"({device.type}, {device.dtype}, {dist.world} process(es)) -> {run_dir}")
    reporters = make_reporters(settings, run_dir) if dist.main else []
    trainer = Trainer(model, examples, val_examples, cfg, run_dir, device.torch_device, pad_id, dist, log=log,
                      progress=progress, reporters=reporters)
    if resume:
        checkpoint = trainer.latest_checkpoint()
        if checkpoint is None:
            raise UserError(f"run {run_dir.name} has no checkpoint to resume from; start a new run")
        trainer.resume(checkpoint)
        if dist.main:
            forget_steps_after(run_dir / "metrics.jsonl", trainer.state.step)
            update_manifest(run_dir, status="running", pid=os.getpid(), host=socket.gethostname())
    started = time.time()
    status = "finished"
    try:
        state = trainer.train()
    except TrainingInterrupted:
        status = "interrupted"
        state = trainer.state
    except BaseException:
        if dist.main:
            update_manifest(run_dir, status="failed", finished=time.strftime("%Y-%m-%dT%H:%M:%S"))
        raise
    finally:
        if dist.enabled:
            rank_file = run_dir / "ranks" / f"rank-{dist.rank}.json"
            artifacts.write_json(rank_file, {"rank": dist.rank, "examples": trainer.seen})
    if dist.main:
        if status == "finished":
            save_adapter(model, trainer, run_dir, settings.use_best, tokenizer)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        update_manifest(run_dir, status=status, finished=time.strftime("%Y-%m-%dT%H:%M:%S"),
                        steps=state.step, tokens=state.tokens, label_tokens=state.label_tokens,
                        train_seconds=round(state.train_seconds, 1), wall_seconds=round(time.time() - started, 1),
                        tokens_per_s=round(state.tokens / max(state.train_seconds, 1e-9), 1),
                        final_loss=state.last_loss, best_val_loss=state.best_val, best_step=state.best_step,
                        peak_memory_mb=round(peak_mb), adapter="adapter" if status == "finished" else None)
    dist.close()
    if status == "interrupted":
        raise UserError(f"training interrupted at step {state.step}; checkpoint saved. Continue with "
                        f"`personatune train {ws.root} --resume {run_dir.name}`")
    return run_dir


def save_adapter(model, trainer, run_dir: Path, use_best: bool, tokenizer) -> None:
    from safetensors.torch import load_file

    best = run_dir / "best" / "trainable.safetensors"
    if use_best and best.exists():
        trainer.load_trainable_state(load_file(str(best)))
    with artifacts.atomic_dir(run_dir / "adapter") as tmp:
        model.save_pretrained(str(tmp), safe_serialization=True)
        tokenizer.save_pretrained(str(tmp / "tokenizer"))


def forget_steps_after(metrics: Path, step: int) -> None:
    """Steps logged after the resumed checkpoint are trained again: drop their old lines, so each step is
    in metrics.jsonl once."""
    if not metrics.exists():
        return
    kept = []
    for line in metrics.read_text(encoding="utf-8").splitlines():
        try:
            if json.loads(line).get("step", 0) <= step:
                kept.append(line)
        except ValueError:
            continue  # a line cut short by the kill
    artifacts.write_text(metrics, "".join(f"{line}\n" for line in kept))


def update_manifest(run_dir: Path, **fields) -> None:
    path = run_dir / "run.json"
    record = artifacts.read_json(path) if path.exists() else {}
    record.update(fields)
    artifacts.write_json(path, record)


def list_runs(ws: Workspace) -> list[dict]:
    root = runs_root(ws)
    if not root.exists():
        return []
    out = []
    for p in sorted(root.iterdir()):
        if (p / "run.json").exists():
            record = artifacts.read_json(p / "run.json")
            out.append({**record, "status": run_status(p, record)})
    return out
