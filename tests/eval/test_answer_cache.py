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
    assert calls == [2] and again.counts["answers"] == {"reused": 2, "computed": 0}

    again.answers(Engine("w2"), [ask("Hi")], settings, counting_generator(calls))  # retrained weights
    again.answers(Engine("w1"), [ask("Hi there")], settings, counting_generator(calls))  # another prompt
    again.answers(Engine("w1"), [ask("Hi")], settings.updated(max_new_tokens=64), counting_generator(calls))
    system_changed = [{"role": "system", "content": "You are Marta. Card v2"}, {"role": "user", "content": "Hi"}]
    again.answers(Engine("w1"), [system_changed], settings, counting_generator(calls))  # an edited card
    assert calls == [2, 1, 1, 1, 1] and again.counts["answers"] == {"reused": 2, "computed": 4}


def test_likelihoods_are_cached_per_model_and_conversation(tmp_path):
    cache = AnswerCache(tmp_path / "c.jsonl")
    calls: list = []

    def nll(conversations):
        calls.append(len(conversations))
        return [float(len(c[-1]["content"])) for c in conversations]

    convo = ask("Where were you born?") + [{"role": "assistant", "content": "In Gdansk."}]
    assert cache.likelihoods(lambda: "w1", [convo], nll) == [10.0]
    assert cache.likelihoods(lambda: "w1", [convo], nll) == [10.0] and calls == [1]
    cache.likelihoods(lambda: "w2", [convo], nll)
    assert calls == [1, 1] and cache.counts["likelihoods"] == {"reused": 1, "computed": 2}


def test_a_line_cut_short_by_a_crash_is_computed_again(tmp_path):
    path, settings = tmp_path / "c.jsonl", Settings(temperature=0.0)
    calls: list = []
    AnswerCache(path).answers(Engine("w"), [ask("A"), ask("B")], settings, counting_generator(calls))
    text = path.read_text()
    path.write_text(text[: len(text) - 10])  # the last line was being written when the power went
    cache = AnswerCache(path)
    assert cache.answers(Engine("w"), [ask("A"), ask("B")], settings, counting_generator(calls))[1] == ("answer to B", 3)
    assert calls == [2, 1] and cache.counts["answers"] == {"reused": 1, "computed": 1}


def test_off_means_always_computed_and_counted(tmp_path):
    calls: list = []
    cache = AnswerCache(tmp_path / "c.jsonl", enabled=False)
    for _ in range(2):
        cache.answers(Engine("w"), [ask("A")], Settings(), counting_generator(calls))
    never = lambda: (_ for _ in ()).throw(AssertionError("no fingerprint when the cache is off"))  # noqa: E731
    cache.likelihoods(never, [ask("A")], lambda convs: [1.0] * len(convs))
    assert calls == [1, 1] and not (tmp_path / "c.jsonl").exists()
    assert cache.record() == {"enabled": False, "answers": {"reused": 0, "computed": 2},
                              "likelihoods": {"reused": 0, "computed": 1}}


def test_the_log_survives_torn_writes_and_reads_the_old_question_cache(tmp_path):
    from personatune.artifacts import KeyedLog

    path = tmp_path / "questions.jsonl"
    old = b'{"key": "k1", "questions": ["Where did you grow up?"]}\n'  # before it was a KeyedLog
    torn = '{"key": "k2", "value": "Gdań'.encode()[:-1]  # the power went half-way through "ń"
    path.write_bytes(old + '{"key": "k0", "value": "Łódź"}\n'.encode() + torn)
    log = KeyedLog(path)
    assert log["k1"] == ["Where did you grow up?"] and log["k0"] == "Łódź" and "k2" not in log
    log.put("k3", "Duluth")  # appended on a line of its own, not glued to the torn one
    assert KeyedLog(path)["k3"] == "Duluth" and KeyedLog(path)["k1"] == ["Where did you grow up?"]
