"""Text generation behind chat, serve and eval: one interface, two backends.

`HFEngine` runs a Hugging Face model (base, base + adapter, merged); `GGUFEngine` runs a GGUF
file through llama.cpp. Both take chat messages, render them with the model's own chat template,
and stream text pieces. Generation settings are one dataclass, read from persona.yaml `generate:`,
flags, `/set` in chat or the request body in serve.
"""

from __future__ import annotations

import codecs
import functools
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting


@dataclass
class Settings(BaseSettings):
    temperature: float = setting(0.7, help="sampling temperature; 0 = greedy (deterministic)")
    top_p: float = setting(0.9, help="nucleus sampling: keep the smallest set of tokens with this much probability")
    repetition_penalty: float = setting(1.15, help="> 1 discourages repeating tokens the answer already used "
                                        "(not the prompt: retrieved passages stay free to quote)")
    min_new_tokens: int = setting(0, help="never stop before this many new tokens")
    max_new_tokens: int = setting(256, help="stop after this many new tokens")
    context: int = setting(2048, help="context window used for prompt + answer (history is trimmed to fit)")
    seed: int = setting(0, help="random seed for sampling")

    def problems(self) -> list[str]:
        out = []
        if self.temperature < 0:
            out.append("temperature must be >= 0")
        if not 0 < self.top_p <= 1:
            out.append("top_p must be in (0, 1]")
        if self.repetition_penalty <= 0:
            out.append("repetition_penalty must be > 0")
        if self.max_new_tokens < 1 or self.min_new_tokens < 0 or self.min_new_tokens > self.max_new_tokens:
            out.append("need 0 <= min_new_tokens <= max_new_tokens and max_new_tokens >= 1")
        if self.context < 64:
            out.append("context must be >= 64")
        return out

    def updated(self, **changes) -> Settings:
        """A copy with some values changed (validated like any other settings)."""
        from personatune.settings import resolve

        return resolve(Settings, {**self.to_dict()}, changes)


@dataclass
class Finish:
    """What ended the last generation: 'stop' (end of turn) or 'length' (max_new_tokens)."""

    reason: str = "stop"
    prompt_tokens: int = 0
    completion_tokens: int = 0


class Engine:
    """A loaded model that renders chat messages and streams an answer."""

    name: str = "model"
    max_context: int = 2048

    def __init__(self) -> None:
        self.lock = threading.Lock()  # one generation at a time per loaded model
        self.last = Finish()

    def render(self, messages: list[dict]) -> str:
        raise NotImplementedError

    def count(self, messages: list[dict]) -> int:
        raise NotImplementedError

    def stream(self, messages: list[dict], settings: Settings) -> Iterator[str]:
        raise NotImplementedError

    def complete(self, messages: list[dict], settings: Settings) -> str:
        return "".join(self.stream(messages, settings))

    def context_for(self, settings: Settings) -> int:
        return min(settings.context, self.max_context)


class AnswerRepetitionPenalty:
    """CTRL-style repetition penalty over the generated tokens only.

    transformers' own `repetition_penalty` also counts the prompt, and with retrieval the prompt
    holds the passages whose facts the answer should repeat; llama.cpp's penalty likewise looks
    only at recent output. Positive logits are divided by the penalty, negative ones multiplied.
    """

    def __init__(self, penalty: float, prompt_length: int):
        self.penalty, self.prompt_length = penalty, prompt_length

    def __call__(self, input_ids, scores):
        import torch

        produced = input_ids[:, self.prompt_length:]
        if produced.shape[1] == 0 or self.penalty == 1.0:
            return scores
        picked = torch.gather(scores, 1, produced)
        picked = torch.where(picked < 0, picked * self.penalty, picked / self.penalty)
        return scores.scatter(1, produced, picked)


def _answer_penalty(penalty: float, prompt_length: int):
    from transformers import LogitsProcessorList

    return LogitsProcessorList([AnswerRepetitionPenalty(penalty, prompt_length)])


class _Stop:
    """A transformers stopping criterion that ends generation when the reader has gone."""

    def __init__(self, event: threading.Event):
        self.event = event

    def __call__(self, input_ids, scores, **kwargs):
        import torch

        return torch.full((input_ids.shape[0],), self.event.is_set(), dtype=torch.bool)


class HFEngine(Engine):
    def __init__(self, model, tokenizer, name: str = "model"):
        super().__init__()
        from personatune.training.data import ensure_chat_template

        ensure_chat_template(tokenizer)
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.max_context = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
        eos = {tokenizer.eos_token_id}
        generation_eos = getattr(model.generation_config, "eos_token_id", None)
        eos |= set(generation_eos if isinstance(generation_eos, list) else [generation_eos])
        self.eos_ids = sorted(i for i in eos if i is not None)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]

    def render(self, messages: list[dict]) -> str:
        return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        return self.tokenizer(self.render(messages), add_special_tokens=False)["input_ids"]

    def count(self, messages: list[dict]) -> int:
        return len(self.prompt_ids(messages))

    def stream(self, messages: list[dict], settings: Settings) -> Iterator[str]:
        import torch
        from transformers import StoppingCriteriaList, TextIteratorStreamer

        ids = self.prompt_ids(messages)
        budget = max(1, min(settings.max_new_tokens, self.context_for(settings) - len(ids)))
        input_ids = torch.tensor([ids], device=self.model.device)
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True)
        sampling = settings.temperature > 0
        kwargs = dict(input_ids=input_ids, attention_mask=torch.ones_like(input_ids), streamer=streamer,
                      max_new_tokens=budget, min_new_tokens=min(settings.min_new_tokens, budget),
                      do_sample=sampling, logits_processor=_answer_penalty(settings.repetition_penalty, len(ids)),
                      eos_token_id=self.eos_ids, pad_token_id=self.pad_id)
        if sampling:
            kwargs.update(temperature=settings.temperature, top_p=settings.top_p, top_k=0)
        else:
            kwargs.update(temperature=None, top_p=None, top_k=None)
        stop = threading.Event()  # set when the caller stops reading: generation ends at the next token
        kwargs["stopping_criteria"] = StoppingCriteriaList([_Stop(stop)])
        result: dict = {}
        errors: list[BaseException] = []

        def run() -> None:
            try:
                with torch.inference_mode():
                    if sampling:
                        torch.manual_seed(settings.seed)
                    result["out"] = self.model.generate(**kwargs)
            except BaseException as exc:  # surfaced in the caller's thread below
                errors.append(exc)
                streamer.end()

        with self.lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            try:
                yield from streamer
            finally:
                stop.set()
                worker.join()
                # Set under the lock, also when the reader stopped early, so `last` is this call's.
                new = result["out"][0, len(ids):].tolist() if "out" in result else []
                stopped = bool(new) and new[-1] in self.eos_ids
                self.last = Finish("stop" if stopped or len(new) < budget else "length", len(ids), len(new))
        if errors:
            raise errors[0]

    def generate_batch(self, conversations: list[list[dict]], settings: Settings, batch_size: int = 16,
                       progress=None) -> list[tuple[str, int]]:
        """(answer, new tokens) per conversation, generated in left-padded batches of similar length.

        For evaluation: many prompts at once fill the CPU far better than one stream at a time.
        """
        import torch

        prompts = [self.prompt_ids(c) for c in conversations]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[tuple[str, int]] = [("", 0)] * len(prompts)
        sampling = settings.temperature > 0
        extra = (dict(temperature=settings.temperature, top_p=settings.top_p, top_k=0) if sampling
                 else dict(temperature=None, top_p=None, top_k=None))
        with self.lock, torch.inference_mode():
            if sampling:
                torch.manual_seed(settings.seed)
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                width = max(len(prompts[i]) for i in chunk)
                ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    ids[row, width - len(prompts[i]):] = torch.tensor(prompts[i])
                    mask[row, width - len(prompts[i]):] = 1
                budget = max(1, min(settings.max_new_tokens, self.context_for(settings) - width))
                result = self.model.generate(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                                             max_new_tokens=budget, min_new_tokens=min(settings.min_new_tokens, budget),
                                             do_sample=sampling,
                                             logits_processor=_answer_penalty(settings.repetition_penalty, width),
                                             eos_token_id=self.eos_ids, pad_token_id=self.pad_id, **extra)
                for row, i in enumerate(chunk):
                    new = result[row, width:].tolist()
                    ends = [k for k, t in enumerate(new) if t in self.eos_ids]
                    new = new[:ends[0]] if ends else new
                    out[i] = (self.tokenizer.decode(new, skip_special_tokens=True), len(new))
                if progress:
                    progress(len(chunk))
        return out

    def answer_nll(self, conversations: list[list[dict]], batch_size: int = 8) -> list[float]:
        """Mean per-token negative log-likelihood of each conversation's final assistant message."""
        import torch

        from personatune.training.data import encode

        encoded = [encode(self.tokenizer, c) for c in conversations]
        nll: list[float] = [float("nan")] * len(encoded)
        order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]))
        with self.lock, torch.inference_mode():
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                width = max(len(encoded[i][0]) for i in chunk)
                ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
                labels = torch.full((len(chunk), width), -100, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                for row, i in enumerate(chunk):
                    tokens, prompt_len = encoded[i]
                    ids[row, :len(tokens)] = torch.tensor(tokens)
                    labels[row, prompt_len:len(tokens)] = torch.tensor(tokens[prompt_len:])
                    mask[row, :len(tokens)] = 1
                logits = self.model(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device)).logits
                losses = torch.nn.functional.cross_entropy(logits[:, :-1].float().transpose(1, 2),
                                                           labels[:, 1:].to(logits.device), reduction="none")
                counts = (labels[:, 1:] != -100).sum(1).clamp(min=1)
                for row, i in enumerate(chunk):
                    nll[i] = float(losses[row].sum() / counts[row])
        return nll

    def greedy_ids(self, ids: list[int], n: int) -> list[int]:
        """The first `n` greedy tokens after `ids` (for parity checks); stops early at end of turn."""
        import torch

        with self.lock, torch.inference_mode():
            out = self.model.generate(torch.tensor([ids]), attention_mask=torch.ones(1, len(ids), dtype=torch.long),
                                      max_new_tokens=n, do_sample=False, temperature=None, top_p=None,
                                      top_k=None, repetition_penalty=1.0, eos_token_id=self.eos_ids,
                                      pad_token_id=self.eos_ids[0])
        new = out[0, len(ids):].tolist()
        return new[:-1] if new and new[-1] in self.eos_ids else new  # like llama.cpp: the stop token is not text


class GGUFEngine(Engine):
    """A GGUF file through llama.cpp; the chat template and stop tokens come from the file itself."""

    def __init__(self, path: str | Path, context: int = 2048, threads: int | None = None, name: str | None = None,
                 lora: str | Path | None = None):
        super().__init__()
        try:
            from llama_cpp import Llama
        except ImportError:
            raise UserError("the GGUF backend needs llama-cpp-python; install it with "
                            "`pip install llama-cpp-python` (or `make demo`)") from None
        from personatune.device import cpu_threads
        from personatune.gguf_io import native_output_to

        path = Path(path)
        if not path.is_file():
            raise UserError(f"GGUF file {path} not found; write it with `personatune export DIR`")
        self.path = path
        self.name = name or path.stem
        with native_output_to(os.devnull):  # llama.cpp prints notes even when asked not to
            self.llm = Llama(model_path=str(path), n_ctx=context, n_threads=threads or cpu_threads(),
                             n_batch=512, verbose=False, seed=0, lora_path=str(lora) if lora else None)
        meta = self.llm.metadata
        self.max_context = min(context, int(self.llm.n_ctx()))
        self.template = meta.get("tokenizer.chat_template")
        if not self.template:
            raise UserError(f"{path} has no tokenizer.chat_template; export it with `personatune export` "
                            "so the template travels with the weights")
        self.bos = self._piece(meta.get("tokenizer.ggml.bos_token_id"))
        self.eos = self._piece(meta.get("tokenizer.ggml.eos_token_id"))

    def _piece(self, token_id) -> str:
        if token_id is None:
            return ""
        return self.llm.detokenize([int(token_id)], special=True).decode("utf-8", errors="replace")

    def render(self, messages: list[dict]) -> str:
        from personatune.chat_template import render_chat

        return render_chat(self.template, messages, bos_token=self.bos, eos_token=self.eos)

    def prompt_ids(self, messages: list[dict]) -> list[int]:
        return self.llm.tokenize(self.render(messages).encode("utf-8"), add_bos=False, special=True)

    def count(self, messages: list[dict]) -> int:
        return len(self.prompt_ids(messages))

    @functools.cached_property
    def end_ids(self) -> list[int]:
        """Every end-of-generation token (held back until min_new_tokens are out)."""
        return [t for t in range(self.llm.n_vocab()) if self.is_end(t)]

    def is_end(self, token: int) -> bool:
        import llama_cpp

        return bool(llama_cpp.llama_vocab_is_eog(self.llm._model.vocab, token))

    def tokens(self, ids: list[int], settings: Settings, budget: int) -> Iterator[int]:
        import numpy as np

        eog = self.end_ids if settings.min_new_tokens else []
        count = 0

        def hold_end(_input_ids, scores):
            if count < settings.min_new_tokens:
                scores[eog] = -np.inf
            return scores

        self.llm.set_seed(settings.seed)
        greedy = settings.temperature == 0
        for token in self.llm.generate(ids, temp=0.0 if greedy else settings.temperature,
                                       top_p=1.0 if greedy else settings.top_p, top_k=1 if greedy else 0,
                                       min_p=0.0, repeat_penalty=settings.repetition_penalty, reset=True,
                                       logits_processor=[hold_end] if eog else None):
            if self.is_end(token):
                return
            yield token
            count += 1
            if count >= budget:
                return

    def stream(self, messages: list[dict], settings: Settings) -> Iterator[str]:
        ids = self.prompt_ids(messages)
        budget = max(1, min(settings.max_new_tokens, self.context_for(settings) - len(ids)))
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        produced = 0
        with self.lock:
            try:
                for token in self.tokens(ids, settings, budget):
                    produced += 1
                    piece = decoder.decode(self.llm.detokenize([token], special=False))
                    if piece:
                        yield piece
                tail = decoder.decode(b"", final=True)
                if tail:
                    yield tail
            finally:  # under the lock, also when the reader stopped early
                self.last = Finish("length" if produced >= budget else "stop", len(ids), produced)

    def greedy_ids(self, ids: list[int], n: int) -> list[int]:
        settings = Settings(temperature=0.0, repetition_penalty=1.0, max_new_tokens=n)
        with self.lock:
            return list(self.tokens(ids, settings, n))


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
    from personatune.train import find_run

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
