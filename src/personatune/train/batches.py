"""Tokenised chat examples with the loss mask, and length-grouped batches that waste no compute on padding.

Only the assistant's answer carries loss. Examples are grouped by length (sorted within shuffled
windows), so a batch pads a few tokens at most; the order is a pure function of (seed, epoch), so a
resumed run sees exactly the batches the interrupted one would have.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from personatune.errors import UserError
from personatune.train.prefix import shared_length

# For tokenizers that ship no chat template (pretrained base models such as gemma3-270m): plain
# role headers and the tokenizer's end-of-sequence token after each answer, so generation stops. A
# pretrained model may run on into a turn it invents: USER_HEADER is where its answer ends.
USER_HEADER = "### User:"
DEFAULT_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% if message['role'] == 'system' %}{{ message['content'] }}\n\n"
    "{% elif message['role'] == 'user' %}" + USER_HEADER + "\n{{ message['content'] }}\n\n"
    "{% else %}### Assistant:\n{{ message['content'] }}{{ eos_token }}\n\n{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}### Assistant:\n{% endif %}"
)


def ensure_chat_template(tokenizer) -> bool:
    """Give a template-less tokenizer the documented default; True when it was added."""
    if getattr(tokenizer, "chat_template", None):
        return False
    tokenizer.chat_template = DEFAULT_CHAT_TEMPLATE
    return True


@dataclass
class Example:
    ids: list[int]
    prompt_len: int  # tokens before the answer; the loss covers ids[prompt_len:]
    index: int  # row number in the source file
    weight: float = 1.0  # loss weight of each of its answer tokens

    @property
    def length(self) -> int:
        return len(self.ids)

    @property
    def label_count(self) -> int:
        return len(self.ids) - self.prompt_len


@dataclass
class EncodeReport:
    rows: int = 0
    kept: int = 0
    truncated: int = 0
    dropped: int = 0
    dropped_rows: list[int] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"rows": self.rows, "kept": self.kept, "truncated": self.truncated, "dropped": self.dropped,
                "dropped_rows": self.dropped_rows[:20]}


def _strip_bos(tokenizer, text: str) -> tuple[str, bool]:
    bos = getattr(tokenizer, "bos_token", None)
    if bos and text.startswith(bos):
        return text[len(bos):], True
    return text, False


def encode(tokenizer, messages: list[dict], stop: bool = True) -> tuple[list[int], int]:
    """(token ids, prompt length) for a conversation whose last message is the assistant's answer.

    The prompt and the answer are rendered with the chat template and tokenised separately, so the
    boundary is exact even where a tokenizer would merge across it. `stop=False` leaves out what the
    template puts after the answer (the end-of-turn token): the row teaches its words, not where to stop.
    """
    if not messages or messages[-1].get("role") != "assistant":
        raise ValueError("the last message must be the assistant's answer")
    full = tokenizer.apply_chat_template(messages, tokenize=False)
    prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
    if not full.startswith(prompt):
        raise ValueError("chat template renders the prompt differently inside the full conversation")
    completion = full[len(prompt):]
    prompt, had_bos = _strip_bos(tokenizer, prompt)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    if had_bos:
        prompt_ids = [tokenizer.bos_token_id] + prompt_ids
    if not stop:
        content = messages[-1].get("content") or ""
        end = completion.rfind(content) + len(content) if content and content in completion else len(completion)
        completion = completion[:end]
    answer_ids = tokenizer(completion, add_special_tokens=False)["input_ids"]
    return prompt_ids + answer_ids, len(prompt_ids)


def encode_rows(tokenizer, rows: list[dict], max_length: int, overflow: str, where: str,
                fact_weight: float = 1.0, fact_stop: bool = True) -> tuple[list[Example], EncodeReport]:
    """Encoded rows; a fact pair's row (its provenance names the segment it came from) weighs `fact_weight`,
    and with `fact_stop` false it does not teach the end of the turn (a one-sentence answer is not the
    length the person answers in)."""
    report = EncodeReport()
    out = []
    for number, row in enumerate(rows):
        report.rows += 1
        messages = row.get("messages")
        if not isinstance(messages, list):
            raise UserError(f"{where} row {number + 1}: expected a `messages` list (chat format); rebuild the dataset")
        fact = bool((row.get("metadata") or {}).get("parent"))
        try:
            ids, prompt_len = encode(tokenizer, messages, stop=fact_stop or not fact)
        except ValueError as exc:
            raise UserError(f"{where} row {number + 1}: {exc}") from None
        if len(ids) > max_length:
            if overflow == "drop" or prompt_len >= max_length - 1:
                report.dropped += 1
                report.dropped_rows.append(number)
                continue
            ids = ids[:max_length]
            report.truncated += 1
        out.append(Example(ids, prompt_len, number, fact_weight if fact else 1.0))
        report.kept += 1
    return out, report


def step_count(settings, examples: int, processes: int = 1) -> int:
    """Optimizer steps of a run (`train.Settings`): `max_steps`, else `epochs` over `examples` rows at the
    step's batch (batch_size x grad_accum x processes)."""
    per_step = settings.batch_size * settings.grad_accum * processes
    return settings.max_steps or max(1, int(settings.epochs * examples / per_step))


def length_grouped_batches(examples: list[Example], batch_size: int, seed: int, epoch: int,
                           window: int = 64) -> list[list[int]]:
    """Indices into `examples`, batched by similar length, in an order fixed by (seed, epoch)."""
    rng = random.Random(f"{seed}:{epoch}")
    order = list(range(len(examples)))
    rng.shuffle(order)
    batches: list[list[int]] = []
    span = batch_size * window
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda i: examples[i].length)
        batches.extend(chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size))
    rng.shuffle(batches)
    return batches


def within_token_budget(examples: list[Example], budget: int) -> list[list[Example]]:
    """`examples` (one batch) as consecutive groups of similar length whose padded area (rows x longest)
    is at most `budget` tokens; a row longer than the budget is a group of its own. 0: one group.

    Activations kept for backward grow with the tokens of a forward pass (about 2.8 MB per token for
    SmolLM2-135M in fp32): eight rows trained as served (~1,300 tokens each) peak at 21 GB in one pass,
    the same rows under a 2,048-token budget at a fraction of it (docs/benchmarks.md). The loss is a
    mean over the step's labelled tokens either way, so the groups only change how it is computed.
    """
    if not budget:
        return [list(examples)]
    groups: list[list[Example]] = []
    for example in sorted(examples, key=lambda e: e.length):
        group = groups[-1] if groups else None
        if group and (len(group) + 1) * example.length <= budget:  # sorted: the new row is the longest
            group.append(example)
        else:
            groups.append([example])
    return groups


def opening_length(examples: list[Example]) -> int:
    """Tokens every row opens with before any labelled position (rows trained as served share the
    template and the card): computed once per batch, since the loss never needs their hidden states."""
    return shared_length([e.ids for e in examples], min(e.prompt_len for e in examples) - 1)


def collate(examples: list[Example], pad_id: int):
    """Right-padded input ids, attention mask, and the flat (row, position) pairs that carry a label."""
    import torch

    width = max(e.length for e in examples)
    ids = torch.full((len(examples), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(examples), width), dtype=torch.long)
    rows, cols, targets, weights = [], [], [], []
    for r, e in enumerate(examples):
        ids[r, :e.length] = torch.tensor(e.ids)
        mask[r, :e.length] = 1
        # position t predicts token t+1: the answer's tokens are predicted from prompt_len-1 .. length-2
        positions = range(e.prompt_len - 1, e.length - 1)
        rows.extend([r] * len(positions))
        cols.extend(positions)
        targets.extend(e.ids[e.prompt_len:])
        weights.extend([e.weight] * len(positions))
    padded = bool((mask == 0).any())
    first_label = min(e.prompt_len for e in examples) - 1
    return {"input_ids": ids, "attention_mask": mask if padded else None, "shared": opening_length(examples),
            "prompt": first_label,  # positions before any labelled one: prompt tokens of every row
            "rows": torch.tensor(rows), "cols": torch.tensor(cols), "targets": torch.tensor(targets),
            "weights": torch.tensor(weights) if any(w != 1.0 for w in weights) else None,
            "tokens": int(mask.sum()), "padding": int((mask == 0).sum())}


def validation_sample(rows: list[dict], n: int, seed: int) -> list[dict]:
    """At most `n` rows (0: all), a seeded sample in which each label keeps its share (at least one row
    of every label), in the file's order."""
    if not n or len(rows) <= n:
        return rows
    import random
    from collections import defaultdict

    by_label: dict[str, list[int]] = defaultdict(list)
    for i, row in enumerate(rows):
        by_label[str((row.get("metadata") or {}).get("label"))].append(i)
    quota = {label: max(1, round(n * len(members) / len(rows))) for label, members in by_label.items()}
    while sum(quota.values()) > n and max(quota.values()) > 1:  # rounding up the rare labels overshot
        quota[max(quota, key=quota.get)] -= 1
    rng = random.Random(seed)
    keep: set[int] = set()
    for label in sorted(by_label):
        keep.update(rng.sample(by_label[label], quota[label]))
    return [row for i, row in enumerate(rows) if i in keep]


def what_is_trained(rows: list[dict]) -> tuple[list[str], dict]:
    """(the persona segments the rows teach, how many rows are trained as served: with their own passage
    ("gold"), with other passages only ("distractors"), or with the plain system prompt)."""
    meta = [r.get("metadata") or {} for r in rows]
    trained = sorted({m.get("parent") or m.get("segment_id") for m in meta if m.get("label") == "persona"})
    served = Counter(m.get("served") or "plain" for m in meta)
    return trained, {kind: served[kind] for kind in ("gold", "distractors", "plain")}
