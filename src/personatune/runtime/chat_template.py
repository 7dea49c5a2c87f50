"""Render a Hugging Face chat template (Jinja) the way transformers does, without a tokenizer.

Used where only the template string is at hand: a GGUF's `tokenizer.chat_template` in the llama.cpp
backend, and the Modelfile equivalence check.
"""

from __future__ import annotations

import json
from datetime import datetime
from functools import lru_cache


class TemplateError(ValueError):
    pass


def _raise(message: str):
    raise TemplateError(message)


@lru_cache(maxsize=8)
def _compile(template: str):
    from jinja2.ext import loopcontrols
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = lambda value, indent=None, **_: json.dumps(value, ensure_ascii=False, indent=indent)
    env.globals["raise_exception"] = _raise
    env.globals["strftime_now"] = lambda fmt: datetime.now().strftime(fmt)
    return env.from_string(template)


def render_chat(template: str, messages: list[dict], bos_token: str = "", eos_token: str = "",
                add_generation_prompt: bool = True) -> str:
    return _compile(template).render(messages=messages, bos_token=bos_token, eos_token=eos_token,
                                     add_generation_prompt=add_generation_prompt)
