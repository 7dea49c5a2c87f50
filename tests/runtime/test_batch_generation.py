"""Batched greedy generation for eval: the shared prompt prefix computed once gives the same answers."""

from __future__ import annotations

import pytest

from tests.serving import small_engines

pytestmark = pytest.mark.integration

CARD = ("You are Marta Kowalczyk, a woodworker from Gdansk who moved to Duluth, Minnesota. You studied mechanical "
        "engineering, worked as a machinist for six years, and opened a small furniture shop in 2016. You "
        "prefer hand tools and hide glue, you distrust sponsored tool reviews, and you teach joinery on your "
        "channel every week.")


def conversation(question: str, passage: str) -> list[dict]:
    return [{"role": "system", "content": f"{CARD}\n\nPassages:\n{passage}"}, {"role": "user", "content": question}]


def test_shared_prefix_is_computed_once_and_answers_are_unchanged(monkeypatch):
    from personatune.runtime.generation import Settings
    from personatune.train import prefix

    engine = small_engines("base")["base"]
    conversations = [conversation("Where were you born?", "I was born in Gdansk."),
                     conversation("What glue do you use?", "Hide glue, always, because it is reversible."),
                     conversation("When did you open the shop?", "The shop opened in 2016 in a rented garage."),
                     conversation("Do you trust tool reviews?", "Most reviews are paid for.")]
    settings = Settings(temperature=0.0, max_new_tokens=10, repetition_penalty=1.15)
    shared = prefix.shared_length([engine.prompt_ids(c) for c in conversations])
    assert shared >= prefix.MIN_SHARED_PREFIX  # the template and the card

    prefills: list[int] = []
    prefill = prefix.prefill
    monkeypatch.setattr(prefix, "prefill", lambda model, ids: prefills.append(ids.shape[1]) or prefill(model, ids))
    with_prefix = engine.generate_batch(conversations, settings, batch_size=3)  # two batches, one prefill
    assert prefills == [shared]

    monkeypatch.setattr(prefix, "MIN_SHARED_PREFIX", 10**9)  # every prompt computed whole, left-padded
    whole = engine.generate_batch(conversations, settings, batch_size=3)
    assert with_prefix == whole and all(text for text, _ in whole)
    alone = [engine.generate_batch([c], settings)[0] for c in conversations]
    assert with_prefix == alone
