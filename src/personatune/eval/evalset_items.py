"""The items of the built-in evaluation sets: general instructions, neutral prompts, transfer
templates and the concrete transfer prompts made from them (loaded by `evalsets`)."""

from __future__ import annotations

import string
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class GeneralItem:
    """A general instruction with a short reference answer and, where the answer is checkable, a check."""

    id: str
    prompt: str
    category: str
    reference: str
    check: dict[str, Any] | None
    """kind -> value; every kind must pass. None: open-ended, scored only by similarity to `reference`."""


@dataclass(frozen=True)
class NeutralItem:
    """An everyday request where a well-behaved persona model has no reason to talk about itself."""

    id: str
    prompt: str
    category: str


@dataclass(frozen=True)
class TransferTemplate:
    """A writing task with a {topic} and/or {question} slot; a {question} is built from the topic."""

    id: str
    kind: str
    template: str

    @property
    def slots(self) -> tuple[str, ...]:
        return _slots(self.template)


@dataclass(frozen=True)
class TransferSet:
    templates: list[TransferTemplate]
    questions: list[str]
    """Question stems with a {topic} slot; they fill a template's {question}."""


@dataclass(frozen=True)
class TransferPrompt:
    id: str
    kind: str
    template_id: str
    topic: str
    question: str | None
    prompt: str


def _slots(template: str) -> tuple[str, ...]:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(template) if name is not None]
    except ValueError:
        return ("<malformed braces>",)
    return tuple(dict.fromkeys(names))
