"""The LoRA training loop: setup, train, evaluate, checkpoint, resume, cleanup.

Runs unchanged on one CPU, one GPU, or several processes under torchrun / accelerate launch
(gradients of the LoRA parameters are all-reduced; each rank reads a disjoint share of every
step's batches). Only rank 0 writes files.
"""

from __future__ import annotations

import contextlib
import json
import math
import random
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from personatune import artifacts
from personatune.errors import UserError
from personatune.train.batches import (
    Example,
    collate,
    length_grouped_batches,
    opening_length,
    within_token_budget,
)
from personatune.train.dist import Dist
from personatune.train.fast_lora import fast_lora
from personatune.train.loss import labelled_cross_entropy
from personatune.train.prefix import SharedOpening, hidden_after_prefix


@dataclass
class Plan:
    """A micro-batch as computed: its parts (collated) and the opening computed once for them ([]: none)."""
    opening: list[int]
    parts: list[dict]


class TrainingInterrupted(Exception):
    """Ctrl-C or SIGTERM: the loop saved a checkpoint and stopped cleanly."""


@dataclass
class LoopConfig:
    learning_rate: float
    warmup_steps: int
    schedule: str  # "cosine" | "linear" | "constant"
    total_steps: int
    batch_size: int
    grad_accum: int
    seed: int
    eval_every: int
    save_every: int
    early_stopping_patience: int
    keep_checkpoints: int
    weight_decay: float = 0.0
    max_grad_norm: float = 1.0
    log_every: int = 1
    prompt_gradients: bool = True  # False: prompt tokens are read without gradients (train.prompt_gradients)
    micro_batch_tokens: int = 0  # padded tokens per forward pass with gradients; 0 = a whole batch at once


@dataclass
class LoopState:
    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0  # micro-batches of this epoch already consumed (all ranks together)
    tokens: int = 0
    label_tokens: int = 0
    best_val: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    train_seconds: float = 0.0
    last_loss: float | None = None
    history: list[dict] = field(default_factory=list)


def schedule_factor(step: int, cfg: LoopConfig) -> float:
    if cfg.warmup_steps and step < cfg.warmup_steps:
        return (step + 1) / cfg.warmup_steps
    if cfg.schedule == "constant":
        return 1.0
    progress = (step - cfg.warmup_steps) / max(1, cfg.total_steps - cfg.warmup_steps)
    progress = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "linear":
        return 1.0 - progress
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def rng_state() -> dict:
    state = {"python": random.getstate(), "numpy": np.random.get_state(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


class Trainer:
    """setup -> train -> save; a recipe in the torchtune sense, with the state a resume needs."""

    def __init__(self, model, examples: list[Example], val_examples: list[Example], cfg: LoopConfig,
                 run_dir: Path, device, pad_id: int, dist: Dist, log=print, progress: bool = True,
                 reporters: list | None = None):
        self.model = model
        self.examples = examples
        self.val_examples = val_examples
        self.cfg = cfg
        self.run_dir = run_dir
        self.device = device
        self.pad_id = pad_id
        self.dist = dist
        self.log = log
        self.progress = progress and dist.main
        self.reporters = reporters or []
        self.state = LoopState()
        self.params = [p for p in model.parameters() if p.requires_grad]
        if not self.params:
            raise UserError("the model has no trainable parameters; check lora.target_modules")
        decay = [p for p in self.params if p.ndim >= 2]
        other = [p for p in self.params if p.ndim < 2]
        groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": other, "weight_decay": 0.0}]
        self.optimizer = torch.optim.AdamW([g for g in groups if g["params"]], lr=cfg.learning_rate,
                                           betas=(0.9, 0.999), eps=1e-8)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(self.optimizer, lambda s: schedule_factor(s, cfg))
        self._stop_signal: int | None = None
        base = model.get_base_model() if hasattr(model, "get_base_model") else model
        self.decoder = base.model
        self.head = base.get_output_embeddings()
        self.softcap = getattr(base.config, "final_logit_softcapping", None)
        self.seen: list[int] = []  # example indices this rank trained on (for the DDP test and audits)

    # ----------------------------------------------------------------- loss

    def loss_sum(self, batch: dict, scale: float, opening: SharedOpening | None = None) -> torch.Tensor:
        """Sum of token losses over the batch's labelled positions (each times its row's weight), times `scale`.
        `opening`: the batch's opening, computed once for all its parts."""
        ids = batch["input_ids"].to(self.device)
        # Right-padded + causal: no real token sees a pad, so no mask (SDPA keeps its fast causal kernel).
        # Rows sharing an opening (template + card) compute it once: same loss and gradients.
        shared = opening.length if opening is not None else batch.get("shared", 0)
        frozen = 0 if self.cfg.prompt_gradients else batch.get("prompt", 0)
        start = max(shared, frozen)
        hidden = (hidden_after_prefix(self.decoder, ids, shared, frozen, opening) if start
                  else self.decoder(input_ids=ids).last_hidden_state)
        picked = hidden[batch["rows"].to(self.device), batch["cols"].to(self.device) - start]
        return labelled_cross_entropy(picked, self.head.weight, batch["targets"].to(self.device), scale=scale,
                                      softcap=self.softcap, row_weights=batch.get("weights"))

    def plan(self, rows: list[Example]) -> Plan:
        """One micro-batch in parts within the token budget; with two parts or more, the opening its rows
        share is computed once for all of them."""
        parts = within_token_budget(rows, self.cfg.micro_batch_tokens)
        opening = rows[0].ids[:opening_length(rows)] if len(parts) > 1 else []
        return Plan(opening, [collate(part, self.pad_id) for part in parts])

    def backward(self, plan: Plan, scale: float) -> tuple[float, int]:
        """Forward and backward of every part of `plan` (gradients accumulate); (loss, real tokens)."""
        opening = self.opening(plan.opening) if plan.opening else None
        total, tokens = 0.0, 0
        for batch in plan.parts:
            loss = self.loss_sum(batch, scale, opening=opening)
            loss.backward()
            total += float(loss.detach())
            tokens += batch["tokens"]
        if opening is not None:
            opening.backward()
        return total, tokens

    def opening(self, ids: list[int]) -> SharedOpening | None:
        """The opening `ids` computed once for the parts of a batch, or None where the cache cannot hold it
        whole (the parts then compute it themselves)."""
        tensor = torch.tensor([ids], device=self.device)
        opening = SharedOpening(self.decoder, tensor, grad=self.cfg.prompt_gradients)
        return opening if opening.usable else None

    @torch.no_grad()
    def evaluate(self) -> float | None:
        if not self.val_examples:
            return None
        self.model.eval()
        total, count = 0.0, 0
        mine = list(range(self.dist.rank, len(self.val_examples), self.dist.world))
        order = sorted(mine, key=lambda i: self.val_examples[i].length)
        for start in range(0, len(order), self.cfg.batch_size):
            chunk = [self.val_examples[i] for i in order[start:start + self.cfg.batch_size]]
            batch = collate(chunk, self.pad_id)
            total += float(self.loss_sum(batch, 1.0))
            count += len(batch["targets"])
        self.model.train()
        total, count = self.dist.sum(total), self.dist.sum(count)
        return total / max(count, 1)

    # ----------------------------------------------------------------- checkpoints

    def trainable_state(self) -> dict[str, torch.Tensor]:
        return {name: p.detach().cpu().clone() for name, p in self.model.named_parameters() if p.requires_grad}

    def load_trainable_state(self, state: dict[str, torch.Tensor]) -> None:
        named = dict(self.model.named_parameters())
        missing = [k for k in named if named[k].requires_grad and k not in state]
        if missing:
            raise UserError(f"checkpoint does not match the model (missing {missing[0]}); was lora changed?")
        with torch.no_grad():
            for name, tensor in state.items():
                named[name].copy_(tensor.to(named[name].device, named[name].dtype))

    def save_checkpoint(self, reason: str) -> Path | None:
        if not self.dist.main:
            return None
        from safetensors.torch import save_file

        folder = self.run_dir / "checkpoints" / f"step-{self.state.step:06d}"
        try:
            with artifacts.atomic_dir(folder) as tmp:
                save_file(self.trainable_state(), str(tmp / "trainable.safetensors"))
                torch.save({"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                            "rng": rng_state()}, tmp / "optimizer.pt")
                artifacts.write_json(tmp / "state.json", {**self.state.__dict__, "reason": reason})
            artifacts.write_text(self.run_dir / "checkpoints" / "latest", folder.name + "\n")
        except OSError as exc:
            latest = self.latest_checkpoint()
            raise UserError(f"could not write checkpoint {folder.name} ({exc.strerror or exc}); "
                            f"the last good checkpoint is {latest or 'none'}; free disk space and resume "
                            "with --resume") from None
        self._prune()
        return folder

    def _prune(self) -> None:
        root = self.run_dir / "checkpoints"
        steps = sorted(p for p in root.iterdir() if p.is_dir() and p.name.startswith("step-"))
        for old in steps[:-self.cfg.keep_checkpoints]:
            shutil.rmtree(old, ignore_errors=True)

    def latest_checkpoint(self) -> Path | None:
        pointer = self.run_dir / "checkpoints" / "latest"
        if not pointer.exists():
            return None
        folder = self.run_dir / "checkpoints" / pointer.read_text().strip()
        return folder if (folder / "state.json").exists() else None

    def resume(self, folder: Path) -> None:
        from safetensors.torch import load_file

        self.load_trainable_state(load_file(str(folder / "trainable.safetensors")))
        extra = torch.load(folder / "optimizer.pt", weights_only=False)
        self.optimizer.load_state_dict(extra["optimizer"])
        self.scheduler.load_state_dict(extra["scheduler"])
        saved = artifacts.read_json(folder / "state.json")
        saved.pop("reason", None)
        self.state = LoopState(**saved)
        set_rng_state(extra["rng"])
        self.log(f"resumed from {folder.name}: step {self.state.step}, epoch {self.state.epoch}")

    def save_best(self) -> None:
        if not self.dist.main:
            return
        from safetensors.torch import save_file

        with artifacts.atomic_dir(self.run_dir / "best") as tmp:
            save_file(self.trainable_state(), str(tmp / "trainable.safetensors"))
            artifacts.write_json(tmp / "state.json", {"step": self.state.step, "val_loss": self.state.best_val})

    # ----------------------------------------------------------------- signals

    def _on_signal(self, signum, frame) -> None:
        if self._stop_signal is not None:  # a second Ctrl-C stops at once
            raise KeyboardInterrupt
        self._stop_signal = signum
        if self.dist.main:
            print(f"\npersonatune: {signal.Signals(signum).name} received; finishing this step and saving a "
                  "checkpoint (press Ctrl-C again to abort without saving)", file=sys.stderr, flush=True)

    # ----------------------------------------------------------------- training

    def metrics(self, row: dict) -> None:
        if not self.dist.main:
            return
        with open(self.run_dir / "metrics.jsonl", "a", encoding="utf-8") as handle:
            handle.write(json.dumps(row) + "\n")
        for reporter in self.reporters:
            reporter(row)

    def train(self) -> LoopState:
        cfg, state = self.cfg, self.state
        handlers = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                handlers[signum] = signal.signal(signum, self._on_signal)
            except ValueError:  # not the main thread
                pass
        bar = None
        if self.progress:
            from tqdm.auto import tqdm

            bar = tqdm(total=cfg.total_steps, initial=state.step, unit="step", dynamic_ncols=True, file=sys.stderr)
        per_step = cfg.grad_accum * self.dist.world
        self.model.train()
        stack = contextlib.ExitStack()
        try:
            stack.enter_context(fast_lora(self.model))
            while state.step < cfg.total_steps:
                batches = length_grouped_batches(self.examples, cfg.batch_size, cfg.seed, state.epoch)
                if len(batches) < per_step:
                    raise UserError(f"{len(self.examples)} training examples make {len(batches)} batches, fewer than one "
                                    f"optimizer step needs ({per_step} = grad_accum x processes); lower "
                                    "train.batch_size or train.grad_accum")
                if state.batch_in_epoch + per_step > len(batches):
                    state.epoch += 1
                    state.batch_in_epoch = 0
                    continue
                step_batches = batches[state.batch_in_epoch:state.batch_in_epoch + per_step]
                mine = step_batches[self.dist.rank::self.dist.world]
                started = time.perf_counter()
                plans = [self.plan([self.examples[i] for i in b]) for b in mine]
                local_labels = sum(len(b["targets"]) for plan in plans for b in plan.parts)
                # the loss is a mean over every labelled token of the step, across ranks and micro-batches
                step_labels = self.dist.sum(float(local_labels))
                loss_total, tokens = 0.0, 0
                for plan in plans:
                    loss, plan_tokens = self.backward(plan, scale=self.dist.world / step_labels)
                    loss_total += loss / self.dist.world
                    tokens += plan_tokens
                for b in mine:
                    self.seen.extend(self.examples[i].index for i in b)
                self.dist.all_reduce_mean([p.grad for p in self.params if p.grad is not None])
                grad_norm = float(torch.nn.utils.clip_grad_norm_(self.params, cfg.max_grad_norm))
                self.optimizer.step()
                self.scheduler.step()
                self.optimizer.zero_grad(set_to_none=True)
                elapsed = time.perf_counter() - started
                step_loss = self.dist.sum(loss_total)
                step_tokens = int(self.dist.sum(float(tokens)))
                state.step += 1
                state.batch_in_epoch += per_step
                state.tokens += step_tokens
                state.label_tokens += int(step_labels)
                state.train_seconds += elapsed
                state.last_loss = step_loss
                rate = state.tokens / max(state.train_seconds, 1e-9)
                row = {"step": state.step, "epoch": state.epoch, "loss": round(step_loss, 5),
                       "lr": self.scheduler.get_last_lr()[0], "grad_norm": round(grad_norm, 4),
                       "tokens": state.tokens, "tokens_per_s": round(rate, 1), "step_seconds": round(elapsed, 3)}
                if cfg.eval_every and (state.step % cfg.eval_every == 0 or state.step == cfg.total_steps):
                    val = self.evaluate()
                    if val is not None:
                        row["val_loss"] = round(val, 5)
                        if state.best_val is None or val < state.best_val:
                            state.best_val, state.best_step, state.bad_evals = val, state.step, 0
                            self.save_best()
                        else:
                            state.bad_evals += 1
                self.metrics(row)
                if bar is not None:
                    post = {"loss": f"{step_loss:.3f}", "tok/s": f"{rate:.0f}"}
                    if "val_loss" in row:
                        post["val"] = f"{row['val_loss']:.3f}"
                    bar.set_postfix(post, refresh=False)
                    bar.update(1)
                stop = self.dist.any(self._stop_signal is not None)
                if cfg.early_stopping_patience and state.bad_evals >= cfg.early_stopping_patience:
                    self.log(f"early stopping at step {state.step}: no better validation loss in "
                             f"{state.bad_evals} evaluations (best {state.best_val:.4f} at step {state.best_step})")
                    self.save_checkpoint("early-stop")
                    break
                if cfg.save_every and state.step % cfg.save_every == 0 and state.step < cfg.total_steps:
                    self.save_checkpoint("periodic")
                if stop:
                    self.save_checkpoint("interrupted")
                    raise TrainingInterrupted(state.step)
            else:
                self.save_checkpoint("final")
        finally:
            stack.close()
            if bar is not None:
                bar.close()
            for signum, handler in handlers.items():
                signal.signal(signum, handler)
        return state
