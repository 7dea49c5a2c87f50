"""The eval's answer cache: keyed by weights, rendered prompt, settings and backend; survives a crash."""

from __future__ import annotations

from personatune.eval.answer_cache import AnswerCache
from personatune.runtime.generation import Settings


class Engine:
    """Glue stand-in: a fingerprint and a chat template are all the cache asks of an engine."""

    def __init__(self, weights: str):
        self.weights = weights

    def fingerprint(self) -> str:
        return self.weights

    def render(self, messages: list[dict]) -> str:
        return "".join(f"<{m['role']}>{m['content']}" for m in messages)


def ask(question: str) -> list[dict]:
    return [{"role": "system", "content": "You are Marta."}, {"role": "user", "content": question}]


def counting_generator(calls: list):
    def generate(conversations):
        calls.append(len(conversations))
        return [(f"answer to {c[-1]['content']}", 3) for c in conversations]
    return generate


def test_unchanged_hits_and_changed_weights_prompt_or_settings_miss(tmp_path):
    path, settings = tmp_path / "cache" / "eval_answers.jsonl", Settings(temperature=0.0, max_new_tokens=48)
    calls: list = []
    cache = AnswerCache(path)
    first = cache.answers(Engine("w1"), [ask("Where were you born?"), ask("Hi")], settings, counting_generator(calls))
    assert first == [("answer to Where were you born?", 3), ("answer to Hi", 3)] and calls == [2]

    again = AnswerCache(path)  # a later eval in the same workspace: read back from disk
    assert again.answers(Engine("w1"), [ask("Hi"), ask("Where were you born?")], settings,
                         counting_generator(calls)) == [first[1], first[0]]
    assert calls == [2] and (again.hits, again.misses) == (2, 0)

    again.answers(Engine("w2"), [ask("Hi")], settings, counting_generator(calls))  # retrained weights
    again.answers(Engine("w1"), [ask("Hi there")], settings, counting_generator(calls))  # another prompt
    again.answers(Engine("w1"), [ask("Hi")], settings.updated(max_new_tokens=64), counting_generator(calls))
    again.answers(Engine("w1"), [ask("Hi")], settings, counting_generator(calls), batch_size=4)  # other batching
    system_changed = [{"role": "system", "content": "You are Marta. Card v2"}, {"role": "user", "content": "Hi"}]
    again.answers(Engine("w1"), [system_changed], settings, counting_generator(calls))  # an edited card
    assert calls == [2, 1, 1, 1, 1, 1] and again.misses == 5


def test_likelihoods_are_cached_per_model_and_conversation(tmp_path):
    cache = AnswerCache(tmp_path / "c.jsonl")
    calls: list = []

    def nll(conversations):
        calls.append(len(conversations))
        return [float(len(c[-1]["content"])) for c in conversations]

    convo = ask("Where were you born?") + [{"role": "assistant", "content": "In Gdansk."}]
    assert cache.likelihoods("w1", [convo], nll) == [10.0]
    assert cache.likelihoods("w1", [convo], nll) == [10.0] and calls == [1]
    cache.likelihoods("w2", [convo], nll)
    assert calls == [1, 1]


def test_a_line_cut_short_by_a_crash_is_computed_again(tmp_path):
    path, settings = tmp_path / "c.jsonl", Settings(temperature=0.0)
    calls: list = []
    AnswerCache(path).answers(Engine("w"), [ask("A"), ask("B")], settings, counting_generator(calls))
    text = path.read_text()
    path.write_text(text[: len(text) - 10])  # the last line was being written when the power went
    cache = AnswerCache(path)
    assert cache.answers(Engine("w"), [ask("A"), ask("B")], settings, counting_generator(calls))[1] == ("answer to B", 3)
    assert calls == [2, 1] and (cache.hits, cache.misses) == (1, 1)


def test_off_means_always_computed(tmp_path):
    calls: list = []
    cache = AnswerCache(tmp_path / "c.jsonl", enabled=False)
    for _ in range(2):
        cache.answers(Engine("w"), [ask("A")], Settings(), counting_generator(calls))
    assert calls == [1, 1] and not (tmp_path / "c.jsonl").exists()
