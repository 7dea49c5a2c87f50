"""How the prompt is fitted into the context window."""

from __future__ import annotations

import pytest

from personatune.errors import UserError
from personatune.persona.prompting import ANSWER_FLOOR, fit
from personatune.runtime.generation import Settings


class WordEngine:
    """Counts a word as a token; a 2048-token window like the defaults."""

    def __init__(self, window: int = 2048):
        self.window = window

    def context_for(self, settings) -> int:
        return min(settings.context, self.window)

    def count(self, messages) -> int:
        return sum(len(m["content"].split()) for m in messages)


CARD = "card " * 1100  # the persona card with four passages is about this long


@pytest.mark.parametrize("max_tokens", [256, 1000, 1024, 2048, 4096])
def test_ordinary_requests_fit_whatever_max_tokens_the_client_sends(max_tokens):
    prompt = fit(WordEngine(), CARD, [{"role": "user", "content": "Who are you?"}],
                 Settings(max_new_tokens=max_tokens))
    assert prompt.messages[-1]["content"] == "Who are you?"


def test_trimming_keeps_room_for_an_answer_and_a_prompt_too_long_is_one_clear_line():
    turns = [{"role": "user", "content": "old " * 800}, {"role": "assistant", "content": "ok"},
             {"role": "user", "content": "Who are you?"}]
    prompt = fit(WordEngine(), CARD, turns, Settings(max_new_tokens=4096))
    assert WordEngine().count(prompt.messages) <= 2048 - ANSWER_FLOOR and len(prompt.messages) == 2
    with pytest.raises(UserError, match=f"with {ANSWER_FLOOR} tokens kept for the answer"):
        fit(WordEngine(), CARD + "x " * 800, [{"role": "user", "content": "hi"}], Settings(max_new_tokens=4096))
