"""The optional LLM judge: the real openai client against `personatune serve` on loopback, with a
scripted engine for exact replies and the real small model for an honest unreadable one."""

from __future__ import annotations

import socket
from contextlib import ExitStack
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from serving import running, small_engines

from personatune.errors import UserError
from personatune.eval import judge as judge_mod
from personatune.eval.compare import compare
from personatune.eval.judge import Judge, judge_answers, make_judge, parse_scores, record, summarize
from personatune.persona.prompting import Toggles
from personatune.runtime.generation import Engine, Finish, Settings
from personatune.runtime.serve import make_server

PLAIN = Toggles(card=False, rag=False)  # the judge's own system message reaches the engine unchanged
CARD = "Marta Kowalczyk, a woodworker in Gdansk since 2009. Prefers hand tools; thinks epoxy is overused."


class ScriptedEngine(Engine):
    """Replies what `reply(prompt)` says and keeps every prompt it saw; raises on request."""

    def __init__(self, reply):
        super().__init__()
        self.name, self.reply, self.seen = "scripted", reply, []

    def count(self, messages: list[dict]) -> int:
        return sum(len(m["content"].split()) + 4 for m in messages)

    def stream(self, messages, settings):
        with self.lock:
            self.seen.append(messages)
            text = self.reply(messages[-1]["content"])
            if isinstance(text, Exception):
                raise text
            yield text
        self.last = Finish("stop", self.count(messages), len(text.split()))


@pytest.fixture
def endpoint(example_ws):
    """start(reply) -> (base_url, engine): a live server whose one model, "judge", is scripted."""
    with ExitStack() as stack:

        def start(reply, token=None):
            engine = ScriptedEngine(reply if callable(reply) else (lambda _: reply))
            server = make_server(example_ws, {"judge": engine}, token=token, toggles=PLAIN, log=lambda _: None,
                                 settings=Settings(temperature=0.0, max_new_tokens=256))
            stack.enter_context(running(server))
            return f"{server.url}v1", engine

        yield start


def judge_at(url: str, **kwargs) -> Judge:
    return Judge(url, "judge", max_retries=0, timeout=10, **kwargs)


# ---------------------------------------------------------------- parsing, no server


@pytest.mark.parametrize("text, expected", [
    ('{"persona_match": 4, "task_quality": 5}', (4, 5)),
    ('Sure.\n```json\n{"persona_match": 2, "task_quality": 3}\n```', (2, 3)),
    ("persona_match: 2\ntask_quality: 3", (2, 3)),
    ("**Persona match**: 5\n**Task quality** = 1", (5, 1)),
    ('<think>maybe {"persona_match": 1, "task_quality": 1}</think>{"persona_match": 4, "task_quality": 4}', (4, 4)),
    ('{"persona_match": 1, "task_quality": 1} on reflection: {"persona_match": 3, "task_quality": 2}', (3, 2)),
    ('{"persona_match": "4", "task_quality": 4.0}', (4, 4)),
    ('{"persona_match": 7, "task_quality": 0}', (None, None)),
    ('{"persona_match": 4.5, "task_quality": true}', (None, None)),
    ('{"persona_match": 4}', (4, None)),
    ('{"persona_match": <1-5>, "task_quality": <1-5>}', (None, None)),  # the rubric echoed back
    ("persona_match, 1-5: does the answer agree", (None, None)),
    ("I think the answer is great!", (None, None)),
    ("", (None, None)),
])
def test_scores_are_read_from_json_or_lines_and_only_1_to_5(text, expected):
    got = parse_scores(text)
    assert (got["persona_match"], got["task_quality"]) == expected


def test_scores_not_asked_of_a_kind_are_dropped():
    assert parse_scores('{"persona_match": 4, "task_quality": 5}', wanted=("task_quality",)) == \
        {"persona_match": None, "task_quality": 5}


def test_the_judge_is_off_unless_configured(monkeypatch):
    assert make_judge("", "m") is None and make_judge(None, None) is None
    monkeypatch.delenv("PT_JUDGE_KEY", raising=False)
    with pytest.raises(UserError, match="judge_key_env names PT_JUDGE_KEY, but .* not set"):
        make_judge("http://127.0.0.1:9/v1", "m", key_env="PT_JUDGE_KEY")
    with pytest.raises(UserError, match="needs both an endpoint URL .* and a model name"):
        make_judge("http://127.0.0.1:9/v1", "")


# ---------------------------------------------------------------- the openai client, a scripted model


def test_a_json_reply_is_scored_end_to_end(endpoint):
    url, engine = endpoint('{"persona_match": 4, "task_quality": 5}')
    got = judge_at(url).score("Where were you born?", "In Gdansk, in 1978.", "persona",
                              reference="I was born in Gdansk in 1978.", persona_card=CARD)
    assert got == {"persona_match": 4, "task_quality": 5, "raw": '{"persona_match": 4, "task_quality": 5}',
                   "error": None}
    (system, user), = engine.seen
    assert system == {"role": "system", "content": judge_mod.SYSTEM}
    prompt = user["content"]
    for part in ("Question: Where were you born?", "reference): I was born in Gdansk in 1978.",
                 f"Persona card: {CARD}", "Model's answer: In Gdansk, in 1978.", '{"persona_match": <1-5>'):
        assert part in prompt, part


def test_a_line_reply_is_scored_and_tasks_get_no_persona_score(endpoint):
    url, engine = endpoint("persona_match: 2\ntask_quality: 3")
    judge = judge_at(url)
    assert judge.score("Why oil over lacquer?", "It breathes.", "voice", persona_card=CARD) == \
        {"persona_match": 2, "task_quality": 3, "raw": "persona_match: 2\ntask_quality: 3", "error": None}
    task = judge.score("What is 7 + 5?", "12", "task", reference="12")
    assert (task["persona_match"], task["task_quality"]) == (None, 3)  # persona_match is not asked of a task
    assert "Instruction: What is 7 + 5?" in engine.seen[-1][1]["content"]
    with pytest.raises(ValueError, match="unknown judge kind"):
        judge.score("q", "a", "identity")


def test_an_unreadable_reply_gives_none_and_the_raw_text(endpoint):
    url, _ = endpoint("What a lovely answer, truly.")
    got = judge_at(url).score("q", "a", "persona", reference="r")
    assert got == {"persona_match": None, "task_quality": None, "raw": "What a lovely answer, truly.",
                   "error": None}


ANSWERS = [
    {"set": s, "prompt_id": f"{s}-{n}", "prompt": f"question {s} {n}", "variant": v, "answer": f"{v} answer"}
    for v in ("base", "tuned") for s in ("identity", "opinions", "general", "neutral") for n in range(3)
]


def by_variant(prompt: str) -> str:
    """A judge that likes the tuned answers."""
    return '{"persona_match": 5, "task_quality": 4}' if "tuned answer" in prompt else \
        '{"persona_match": 2, "task_quality": 2}'


def test_answers_are_judged_summarized_and_recorded_for_compare(endpoint, tmp_path):
    url, engine = endpoint(by_variant)
    items = {"identity": {"identity-0": {"reference": "I was born in Gdansk."}}}
    ticks = []
    scores = judge_answers(judge_at(url), ANSWERS, items, CARD,
                           progress=lambda done, total: ticks.append((done, total)))
    judged = [r for r in ANSWERS if r["set"] != "neutral"]  # not in the default sets
    assert list(scores) == [(r["variant"], r["set"], r["prompt_id"]) for r in judged]
    assert ticks[-1] == (len(judged), len(judged)) and len(engine.seen) == len(judged)
    assert any("I was born in Gdansk." in m[1]["content"] for m in engine.seen)  # the reference reached it
    assert scores[("tuned", "identity", "identity-0")]["persona_match"] == 5
    assert scores[("base", "general", "general-1")] == {"persona_match": None, "task_quality": 2,
                                                       "raw": by_variant("base"), "error": None}

    summary = summarize(scores)
    tuned = summary["tuned"]
    assert tuned["persona_match"] == {"mean": 5.0, "low": 5.0, "high": 5.0, "n": 6}  # identity + opinions
    assert tuned["task_quality"]["n"] == 9 and summary["base"]["task_quality"]["mean"] == 2.0
    assert tuned["sets"]["general"]["persona_match"] is None and tuned["unscored"] == 0

    result = {"variants": ["base", "tuned"], "metrics": {"base": {}, "tuned": {}}, "intervals": {},
              "per_item": {}, "definitions": {"identity_recall": "..."}}
    rows = [dict(r) for r in ANSWERS]
    record(result, scores, judge_at(url), answers=rows)
    assert result["metrics"]["tuned"]["judge_persona_match"] == 5.0
    assert result["intervals"]["base"]["judge_task_quality"] == [2.0, 2.0]
    assert result["per_item"]["tuned"]["opinions"]["opinions-2"] == {"judge_persona_match": 5, "judge_task_quality": 4}
    assert "judge_persona_match" in result["definitions"] and "identity_recall" in result["definitions"]
    assert result["judge"]["model"] == "judge" and result["judge"]["answers"] == len(judged)
    assert rows[0]["judge"]["raw"] == by_variant("base") and "judge" not in rows[9]  # neutral: not judged

    # the per-item scores are what `personatune compare` pairs: base as A, tuned as B
    import json

    for eval_id, variant in (("e1", "base"), ("e2", "tuned")):
        (tmp_path / "eval" / eval_id).mkdir(parents=True)
        data = {"eval_id": eval_id, "run_id": eval_id, "variants": ["tuned"], "metrics": {"tuned": {}},
                "per_item": {"tuned": result["per_item"][variant]}}
        (tmp_path / "eval" / eval_id / "eval.json").write_text(json.dumps(data))
    got = {r["metric"]: r for r in compare(tmp_path, "e1", "e2")["rows"]}
    assert got["judge_persona_match"]["delta"] == 3.0 and got["judge_persona_match"]["verdict"] == "better"


def test_limit_keeps_the_same_first_prompts_for_every_variant(endpoint):
    url, engine = endpoint(by_variant)
    scores = judge_answers(judge_at(url), ANSWERS, None, None, sets=("general", "neutral"), limit=2, workers=1)
    assert sorted(scores) == sorted((v, s, f"{s}-{n}") for v in ("base", "tuned") for s in ("general", "neutral")
                                    for n in range(2))
    assert "(none given)" in engine.seen[0][1]["content"]  # no items: judged without a reference
    with pytest.raises(UserError, match="judge sets bogus unknown"):
        judge_answers(judge_at(url), ANSWERS, None, None, sets=("bogus",))


# ---------------------------------------------------------------- a misconfigured or failing judge


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_endpoint_is_one_clear_user_error():
    url = f"http://127.0.0.1:{closed_port()}/v1"
    judge = judge_at(url)
    with pytest.raises(UserError, match=rf"judge endpoint {url} unreachable: .*check judge_url") as caught:
        judge.check()
    assert "\n" not in str(caught.value)
    with pytest.raises(UserError, match="unreachable"):  # and judging answers stops at the first one
        judge_answers(judge, ANSWERS, None, CARD)


def test_a_wrong_model_or_key_stops_at_once_and_a_right_key_works(endpoint, monkeypatch):
    url, _ = endpoint('{"persona_match": 3, "task_quality": 3}', token="s3cret")
    with pytest.raises(UserError, match="refused the API key"):
        judge_at(url).check()
    monkeypatch.setenv("PT_JUDGE_KEY", "s3cret")
    judge = make_judge(url, "judge", key_env="PT_JUDGE_KEY")
    assert judge.score("q", "a", "task")["task_quality"] == 3
    with pytest.raises(UserError, match="model 'gpt-4o' or the chat completions path not found.*judge_model"):
        Judge(url, "gpt-4o", api_key="s3cret", max_retries=0).check()


def test_a_server_error_fails_the_first_call_but_later_only_that_answer(endpoint):
    url, _ = endpoint(lambda prompt: RuntimeError("boom") if "explode" in prompt else '{"task_quality": 4}')
    with pytest.raises(UserError, match=r"rejected the first judge request \(500"):
        judge_at(url).score("explode", "a", "task")
    judge = judge_at(url)
    assert judge.score("fine", "a", "task")["task_quality"] == 4
    failed = judge.score("explode", "a", "task")
    assert (failed["persona_match"], failed["task_quality"], failed["raw"]) == (None, None, "")
    assert failed["error"].startswith("500")
    assert summarize({("tuned", "general", "g1"): failed})["tuned"]["unscored"] == 1


class PageHandler(BaseHTTPRequestHandler):
    """A web site, not an API: every request gets 200 and an HTML page."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        body = b"<html><body>Welcome</body></html>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_a_url_that_is_not_the_api_is_a_user_error(endpoint):
    url, _ = endpoint("{}")
    with pytest.raises(UserError, match="chat completions path not found .*judge_url ends in /v1"):
        judge_at(url.removesuffix("v1")).check()  # personatune's page, one level above /v1
    with running(ThreadingHTTPServer(("127.0.0.1", 0), PageHandler)) as site:
        with pytest.raises(UserError, match="did not answer as an OpenAI-compatible chat completions API"):
            judge_at(f"http://127.0.0.1:{site.server_address[1]}/v1").check()


# ---------------------------------------------------------------- the real small model


@pytest.mark.integration
def test_the_real_small_model_as_judge_goes_through_and_is_read_safely(example_ws):
    server = make_server(example_ws, small_engines("tiny-judge"), toggles=PLAIN, log=lambda _: None,
                         settings=Settings(temperature=0.0, max_new_tokens=8))
    with running(server):
        judge = Judge(f"{server.url}v1", "tiny-judge", max_retries=0, timeout=60, max_tokens=8)
        got = judge.score("What is 7 + 5?", "12", "task")  # the shortest rubric: the CPU test stays quick
    assert got["error"] is None and got["raw"].strip()  # the request went through and the model answered
    # a 135M model does not follow the rubric: its reply is unreadable, which is None, not a crash
    assert (got["persona_match"], got["task_quality"]) == (None, None), got["raw"]
