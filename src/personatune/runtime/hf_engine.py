"""The Hugging Face backend: a transformers model (base, base + adapter, merged) behind `Engine`."""

from __future__ import annotations

import threading
from collections.abc import Iterator

from personatune.runtime.generation import Engine, Finish, Settings


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
        from personatune.train.batches import ensure_chat_template

        ensure_chat_template(tokenizer)
        self.model, self.tokenizer, self.name = model.eval(), tokenizer, name
        self.max_context = int(getattr(model.config, "max_position_embeddings", 2048) or 2048)
        eos = {tokenizer.eos_token_id}
        generation_eos = getattr(model.generation_config, "eos_token_id", None)
        eos |= set(generation_eos if isinstance(generation_eos, list) else [generation_eos])
        self.eos_ids = sorted(i for i in eos if i is not None)
        self.pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        self._fingerprint: str | None = None

    def fingerprint(self) -> str:
        """sha256 over every tensor's name, dtype, shape and bytes (base + adapter for a PeftModel); ~1 s per
        500 MB, computed once per loaded model."""
        if self._fingerprint is None:
            import hashlib

            import torch

            digest = hashlib.sha256()
            peft_config = getattr(self.model, "peft_config", None)  # LoRA scaling (alpha / r) is not a tensor
            if peft_config:
                digest.update(repr(sorted((k, v.to_dict() if hasattr(v, "to_dict") else repr(v))
                                          for k, v in peft_config.items())).encode())
            with torch.no_grad():
                for name, tensor in sorted(self.model.state_dict().items()):
                    data = tensor.detach().to("cpu").contiguous()
                    digest.update(f"{name}|{data.dtype}|{tuple(data.shape)}|".encode())
                    digest.update(data.view(-1).view(torch.uint8).numpy().tobytes())
            self._fingerprint = "hf:" + digest.hexdigest()
        return self._fingerprint

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
        """(answer, new tokens) per conversation, generated in batches of similar length.

        For evaluation: many prompts at once fill the CPU far better than one stream at a time. The
        tokens every prompt starts with (the chat template and the persona card, ~400 tokens of a
        ~1,100-token retrieval prompt) are computed once and their keys and values reused by every
        batch; each prompt's own rest is padded on its left, between the shared part and itself.
        """
        import torch

        from personatune.train.prefix import cache_argument, prefill, shared_length

        prompts = [self.prompt_ids(c) for c in conversations]
        order = sorted(range(len(prompts)), key=lambda i: len(prompts[i]))
        out: list[tuple[str, int]] = [("", 0)] * len(prompts)
        sampling = settings.temperature > 0
        extra = (dict(temperature=settings.temperature, top_p=settings.top_p, top_k=0) if sampling
                 else dict(temperature=None, top_p=None, top_k=None))
        with self.lock, torch.inference_mode():
            if sampling:
                torch.manual_seed(settings.seed)
            shared = prompts[0][:shared_length(prompts, min(len(p) for p in prompts) - 1)]
            prefix_cache = prefill(self.model, torch.tensor([shared], device=self.model.device)) if shared else None
            for start in range(0, len(order), batch_size):
                chunk = order[start:start + batch_size]
                rests = [prompts[i][len(shared):] for i in chunk]
                rest_width = max(len(r) for r in rests)
                width = len(shared) + rest_width
                ids = torch.full((len(chunk), width), self.pad_id, dtype=torch.long)
                mask = torch.zeros((len(chunk), width), dtype=torch.long)
                if shared:
                    ids[:, :len(shared)] = torch.tensor(shared)
                    mask[:, :len(shared)] = 1
                for row, rest in enumerate(rests):
                    ids[row, width - len(rest):] = torch.tensor(rest)
                    mask[row, width - len(rest):] = 1
                budget = max(1, min(settings.max_new_tokens, self.context_for(settings) - width))
                kwargs = {}
                if prefix_cache is not None:
                    import copy

                    cache = copy.deepcopy(prefix_cache)
                    cache.batch_repeat_interleave(len(chunk))
                    kwargs[cache_argument(self.model)] = cache
                result = self.model.generate(input_ids=ids.to(self.model.device), attention_mask=mask.to(self.model.device),
                                             max_new_tokens=budget, min_new_tokens=min(settings.min_new_tokens, budget),
                                             do_sample=sampling,
                                             logits_processor=_answer_penalty(settings.repetition_penalty, width),
                                             eos_token_id=self.eos_ids, pad_token_id=self.pad_id, **extra, **kwargs)
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

        from personatune.train.batches import encode

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
