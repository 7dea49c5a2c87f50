"""Built-in prompt sets for evaluation: general instructions (task retention), neutral prompts (bleed)
and task-transfer templates (writing in the person's voice), with their loaders.

The sets live in eval/sets/*.yaml. A user file can replace a set (`path=`) or add to it
(`path=..., extend=True`); every file is validated on load and all its problems are reported at once.
The items are the dataclasses in `evalset_items`; `answer_checks` checks answers to general items.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from personatune.errors import UserError
from personatune.eval.answer_checks import CHECK_KINDS, fold, normalise
from personatune.eval.evalset_items import (
    GeneralItem,
    NeutralItem,
    TransferPrompt,
    TransferSet,
    TransferTemplate,
    _slots,
)

TRANSFER_SLOTS = ("topic", "question")
_ID = re.compile(r"^[a-z0-9]+(?:[-_][a-z0-9]+)*$")


# ---------------------------------------------------------------- loading


def load_general(path: str | Path | None = None, *, extend: bool = False) -> list[GeneralItem]:
    """The built-in general instructions; with `path`, that file instead (or as well, with `extend`)."""
    return _load_items("general.yaml", path, extend, _general_item)


def load_neutral(path: str | Path | None = None, *, extend: bool = False) -> list[NeutralItem]:
    """The built-in neutral prompts; with `path`, that file instead (or as well, with `extend`)."""
    return _load_items("neutral.yaml", path, extend, _neutral_item)


def load_transfer(path: str | Path | None = None, *, extend: bool = False) -> TransferSet:
    """The built-in transfer templates and question stems; with `path`, that file instead (or as well)."""
    sources = _sources("transfer.yaml", path, extend)
    templates: list[TransferTemplate] = []
    questions: list[str] = []
    seen: dict[str, str] = {}
    for source, data in sources:
        problems: list[str] = []
        rows = _section(data, "templates", problems)
        stems = _section(data, "questions", problems, required=False)
        for number, row in enumerate(rows, 1):
            where = _where(number, row)
            item = _record(row, where, {"id", "kind", "template"}, set(), problems)
            if item is None:
                continue
            _check_id(item["id"], where, seen, source, problems)
            slots = _slots(item["template"])
            unknown = [s for s in slots if s not in TRANSFER_SLOTS]
            if unknown or not slots:
                problems.append(f"{where}: template must use {{topic}} and/or {{question}}, "
                                f"found {sorted(slots) or 'no slot'}")
            templates.append(TransferTemplate(item["id"], item["kind"], item["template"]))
        for number, stem in enumerate(stems, 1):
            if not isinstance(stem, str) or _slots(stem) != ("topic",):
                problems.append(f"questions #{number}: must be text with exactly one {{topic}} slot")
            else:
                questions.append(stem)
        _raise(source, problems)
    if any("question" in t.slots for t in templates) and not questions:
        raise UserError(f"{sources[-1][0]}: templates use {{question}} but there are no question stems; "
                        "add a 'questions:' list of stems with a {topic} slot")
    return TransferSet(templates, questions)


def balanced(items: list, n: int) -> list:
    """The first `n` items taken round-robin over categories (file order within each), so a short
    run still covers every category; a plain `items[:n]` would keep only the first few categories."""
    queues: dict[str, list] = {}
    for entry in items:
        queues.setdefault(entry.category, []).append(entry)
    out: list = []
    while len(out) < n and any(queues.values()):
        for queue in queues.values():
            if queue and len(out) < n:
                out.append(queue.pop(0))
    return out


def transfer_prompts(topics: Iterable[str], n: int, seed: int = 0,
                     transfer: TransferSet | None = None) -> list[TransferPrompt]:
    """Up to `n` concrete prompts, the same for the same topics and seed, spread evenly over templates.

    No (template, topic) pair repeats, so fewer than `n` come back when templates x topics < n.
    """
    transfer = transfer or load_transfer()
    unique: dict[str, str] = {}
    for topic in topics:
        topic = " ".join(str(topic).split())
        if topic:
            # Keyed like the prompt ids, so "glue-ups" and "Glue ups" are one topic.
            unique.setdefault(_slug(topic), topic)
    if not unique:
        raise UserError("transfer prompts need at least one topic (the workspace's keyphrases); "
                        "run the earlier stages or pass topics")
    rng = random.Random(seed)
    templates = rng.sample(transfer.templates, len(transfer.templates))
    chosen = rng.sample(list(unique.values()), len(unique))
    out: list[TransferPrompt] = []
    # Round r gives template i the topic i + r: every template gets each topic once before any repeats.
    for r in range(len(chosen)):
        for i, template in enumerate(templates):
            if len(out) >= n:
                return out
            topic = chosen[(i + r) % len(chosen)]
            question = None
            if "question" in template.slots:
                question = rng.choice(transfer.questions).format(topic=topic)
            text = template.template.format(topic=topic, question=question)
            out.append(TransferPrompt(f"{template.id}--{_slug(topic)}", template.kind, template.id,
                                      topic, question, text))
    return out


def _general_item(row: Mapping, where: str, problems: list[str]) -> GeneralItem | None:
    item = _record(row, where, {"id", "prompt", "category", "reference", "check"}, set(), problems)
    if item is None:
        return None
    return GeneralItem(item["id"], item["prompt"], item["category"], item["reference"],
                       _parse_check(row["check"], where, problems))


def _neutral_item(row: Mapping, where: str, problems: list[str]) -> NeutralItem | None:
    item = _record(row, where, {"id", "prompt", "category"}, set(), problems)
    return None if item is None else NeutralItem(item["id"], item["prompt"], item["category"])


def _load_items(name: str, path, extend: bool, make) -> list:
    out, seen = [], {}
    for source, data in _sources(name, path, extend):
        problems: list[str] = []
        for number, row in enumerate(_section(data, "items", problems), 1):
            where = _where(number, row)
            item = make(row, where, problems)
            if item is not None:
                _check_id(item.id, where, seen, source, problems)
                out.append(item)
        _raise(source, problems)
    return out


def _sources(name: str, path, extend: bool) -> list[tuple[str, Any]]:
    out = []
    if path is None or extend:
        text = resources.files("personatune.eval").joinpath("sets", name).read_text(encoding="utf-8")
        source = f"personatune/eval/sets/{name}"
        out.append((source, _parse_yaml(text, source)))
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"{path}: cannot read the evaluation set ({exc})") from None
        out.append((str(path), _parse_yaml(text, str(path))))
    return out


def _parse_yaml(text: str, source: str):
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or type(exc).__name__
        raise UserError(f"{source}: not valid YAML{at}: {what}") from None


def _section(data, key: str, problems: list[str], required: bool = True) -> list:
    if isinstance(data, Mapping) and isinstance(data.get(key), list):
        if not data[key]:
            problems.append(f"the '{key}:' list is empty")
        return data[key]
    if not required and (not isinstance(data, Mapping) or key not in data):
        return []
    problems.append(f"expected a mapping with a '{key}:' list at the top level")
    return []


def _where(number: int, row) -> str:
    name = row.get("id") if isinstance(row, Mapping) else None
    return f"item #{number}" + (f" ({name!r})" if isinstance(name, str) else "")


def _record(row, where: str, required: set[str], optional: set[str], problems: list[str]) -> dict | None:
    if not isinstance(row, Mapping):
        problems.append(f"{where}: expected a mapping with {', '.join(sorted(required))}")
        return None
    start = len(problems)
    missing = sorted(required - row.keys())
    if missing:
        problems.append(f"{where}: missing {', '.join(missing)}")
    unknown = sorted(str(k) for k in row.keys() - required - optional)
    if unknown:
        problems.append(f"{where}: unknown field {', '.join(unknown)} "
                        f"(allowed: {', '.join(sorted(required | optional))})")
    for key in sorted((required | optional) & row.keys() - {"check"}):
        if not isinstance(row[key], str) or not row[key].strip():
            problems.append(f"{where}: {key} must be non-empty text")
    if "id" in row and isinstance(row["id"], str) and not _ID.match(row["id"]):
        problems.append(f"{where}: id must be a lowercase slug (letters, digits, - or _)")
    return None if len(problems) > start else {k: row[k] for k in row}


def _check_id(item_id: str, where: str, seen: dict[str, str], source: str, problems: list[str]) -> None:
    if item_id in seen:
        other = "" if seen[item_id] == source else f" in {seen[item_id]}"
        problems.append(f"{where}: duplicate id {item_id!r} (already used{other})")
    seen[item_id] = source


def _parse_check(raw, where: str, problems: list[str]) -> dict[str, Any] | None:
    if raw == "none":
        return None
    if not isinstance(raw, Mapping) or not raw:
        problems.append(f"{where}: check must be 'none' or a mapping of one or more of {', '.join(CHECK_KINDS)}")
        return None
    for kind, value in raw.items():
        if kind not in CHECK_KINDS:
            problems.append(f"{where}: unknown check kind {kind!r} (known: {', '.join(CHECK_KINDS)}, or none)")
        elif kind in ("contains_any", "contains_all"):
            if not (isinstance(value, list) and value
                    and all(isinstance(v, str | int | float) and str(v).strip() for v in value)):
                problems.append(f"{where}: {kind} must be a non-empty list of texts")
        elif kind == "number":
            if isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(f"{where}: number must be a number, got {value!r}")
        elif kind == "regex":
            try:
                re.compile(value)
            except (re.error, TypeError) as exc:
                problems.append(f"{where}: regex does not compile ({exc})")
        elif isinstance(value, bool) or not isinstance(value, int) or value < 1:
            problems.append(f"{where}: {kind} must be a whole number >= 1, got {value!r}")
    return {str(k): ([str(v) for v in val] if isinstance(val, list) else val) for k, val in raw.items()}


def _raise(source: str, problems: list[str]) -> None:
    if problems:
        raise UserError(f"{source}: {len(problems)} problem(s) in the evaluation set: " + "; ".join(problems))


def _slug(text: str) -> str:
    return normalise(text).replace(" ", "-") or fold(text).strip()
