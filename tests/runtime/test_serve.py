"""`personatune serve`: the OpenAI contract through the official client on the real small model,
and every limit through raw HTTP on a fake engine that is slow on demand."""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from contextlib import ExitStack

import openai
import pytest
from serving import running, small_engines

from personatune.errors import UserError
from personatune.persona.prompting import Toggles
from personatune.runtime.bounds import Limits
from personatune.runtime.generation import Engine, Finish, Settings
from personatune.runtime.http_server import is_loopback
from personatune.runtime.openai_api import ApiError, parse_chat
from personatune.runtime.serve import make_server

GREEDY = Settings(temperature=0.0, max_new_tokens=12)
PLAIN = Toggles(card=False, rag=False)  # short prompts keep the model tests fast; one test turns both on
QUESTION = [{"role": "user", "content": "What do you build in your workshop?"}]


class SlowEngine(Engine):
    """Words on a timer, optionally held at a gate: for queue and timeout behaviour only."""

    def __init__(self, words: int = 4, delay: float = 0.0, first_delay: float = 0.0,
                 gate: threading.Event | None = None):
        super().__init__()
        self.name, self.words, self.delay, self.first_delay, self.gate = "slow", words, delay, first_delay, gate

    def count(self, messages: list[dict]) -> int:
        return sum(len(m["content"].split()) + 4 for m in messages)

    def stream(self, messages, settings):
        with self.lock:
            if self.gate is not None:
                self.gate.wait(10)
            time.sleep(self.first_delay)
            n = min(self.words, settings.max_new_tokens)
            for i in range(n):
                time.sleep(self.delay)
                yield f"word{i} "
        self.last = Finish("length" if n == settings.max_new_tokens else "stop", self.count(messages), n)


def request(server, method: str, path: str, body=None, headers: dict | None = None, raw: bytes | None = None):
    """(status, headers, parsed JSON or text) over a fresh connection."""
    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=30)
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    sent = {"Content-Type": "application/json"} if data is not None else {}
    connection.request(method, path, body=data, headers={**sent, **(headers or {})})
    response = connection.getresponse()
    payload = response.read().decode()
    connection.close()
    is_json = response.getheader("Content-Type", "").startswith("application/json")
    return response.status, response, json.loads(payload) if is_json else payload


def wait_until_idle(server, within: float) -> None:
    deadline = time.monotonic() + within
    while any(slot.pending for slot in server.slots.values()):
        assert time.monotonic() < deadline, "a model is still busy"
        time.sleep(0.01)


def chat(server, **fields):
    return request(server, "POST", "/v1/chat/completions", {"model": "slow", "messages": QUESTION, **fields})


@pytest.fixture
def slow_server(example_ws):
    """A server over a workspace with no built data (card and retrieval off) and a fake engine."""
    with ExitStack() as stack:

        def start(engine=None, limits=None, log=lambda _: None, **kwargs):
            server = make_server(example_ws, {"slow": engine or SlowEngine()}, settings=GREEDY, toggles=PLAIN,
                                 limits=limits or Limits(), log=log, **kwargs)
            return stack.enter_context(running(server))

        yield start


# ---------------------------------------------------------------- request mapping, no server


def test_openai_fields_map_to_settings_and_toggles():
    base = Settings(temperature=0.7, max_new_tokens=256)
    body = {"model": "b", "messages": [], "temperature": 0, "top_p": 0.5, "max_tokens": 5000, "seed": 3,
            "frequency_penalty": 1.5, "persona_card": False, "rag": False, "repetition_penalty": 1.0,
            "min_tokens": 2, "stream": True, "stream_options": {"include_usage": True}}
    request = parse_chat(body, ["a", "b"], base, Toggles(), max_tokens=64)
    assert (request.model, request.stream, request.include_usage) == ("b", True, True)
    s = request.settings
    assert (s.temperature, s.top_p, s.max_new_tokens, s.seed, s.repetition_penalty, s.min_new_tokens) == \
        (0.0, 0.5, 64, 3, 1.0, 2)  # max_tokens capped at the server's limit; frequency_penalty ignored
    assert request.toggles == Toggles(card=False, rag=False)
    newer = parse_chat({"messages": [], "max_tokens": 9, "max_completion_tokens": 7}, ["a"], base, Toggles(), 64)
    assert (newer.model, newer.settings.max_new_tokens, newer.toggles) == ("a", 7, Toggles())


@pytest.mark.parametrize("body, status, param, words", [
    ({"model": "nope"}, 404, "model", "does not exist"),
    ({"temperature": "hot"}, 400, "temperature", "must be a number"),
    ({"temperature": True}, 400, "temperature", "must be a number"),
    ({"max_tokens": 2.5}, 400, "max_tokens", "must be an integer"),
    ({"temperature": -1}, 400, "temperature", "temperature must be >= 0"),
    ({"min_tokens": 9, "max_tokens": 4}, 400, "max_tokens", "min_tokens <= max_tokens"),
    ({"rag": "yes"}, 400, "rag", "true or false"),
    ({"n": 2}, 400, "n", "n=1"),
    ({"seed": 2**70}, 400, "seed", "seed must be in"),
])
def test_bad_fields_are_named(body, status, param, words):
    with pytest.raises(ApiError) as caught:
        parse_chat({"messages": [], **body}, ["a"], Settings(), Toggles(), 64)
    assert (caught.value.status, caught.value.param) == (status, param)
    assert words in caught.value.message


def test_deeply_nested_json_is_a_400_not_a_crash():
    from personatune.runtime.openai_api import parse_body

    with pytest.raises(ApiError) as caught:
        parse_body(b"[" * 100_000 + b"]" * 100_000)
    assert caught.value.status == 400 and "nested" in caught.value.message


def test_an_out_of_range_port_is_one_clear_line(example_ws):
    with pytest.raises(UserError, match="port 99999 is out of range"):
        make_server(example_ws, {"slow": SlowEngine()}, port=99999, log=lambda _: None)


def test_limits_are_validated():
    with pytest.raises(UserError, match="queue must be >= 0"):
        Limits(queue=-1)


# ---------------------------------------------------------------- raw HTTP on a fake engine


def test_remote_bind_needs_allow_remote(example_ws, capsys):
    assert is_loopback("127.0.0.1") and is_loopback("localhost") and is_loopback("::1")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5") and not is_loopback("")
    with pytest.raises(UserError, match="--allow-remote"):
        make_server(example_ws, {"slow": SlowEngine()}, host="0.0.0.0")
    with running(make_server(example_ws, {"slow": SlowEngine()}, log=lambda _: None)) as taken:
        with pytest.raises(UserError, match="cannot listen on 127.0.0.1:.*pick another --port"):
            make_server(example_ws, {"slow": SlowEngine()}, port=taken.server_address[1])
    from personatune.cli import main

    # refused before any model loads: one line, exit 2
    assert main(["serve", str(example_ws.root), "--host", "0.0.0.0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "refusing to serve on 0.0.0.0" in err


def test_page_health_and_models(slow_server):
    server = slow_server()
    status, response, page = request(server, "GET", "/")
    assert status == 200 and response.getheader("Content-Type").startswith("text/html")
    assert "default-src 'none'" in response.getheader("Content-Security-Policy")
    for element_id in ("message", "send", "model-a", "model-b", "side-by-side", "card", "rag", "token"):
        assert f'id="{element_id}"' in page
    assert "http://" not in page.replace("http://www.w3.org", "")  # self-contained: nothing fetched elsewhere
    assert request(server, "GET", "/health")[::2] == (200, {"status": "ok"})
    status, _, models = request(server, "GET", "/v1/models")
    assert status == 200 and [m["id"] for m in models["data"]] == ["slow"]
    assert models["personatune"]["defaults"] == {"temperature": 0.0, "max_tokens": 12, "persona_card": False,
                                                 "rag": False}


def test_bad_requests_get_json_errors_and_the_server_keeps_answering(slow_server):
    lines: list[str] = []
    server = slow_server(limits=Limits(max_body_bytes=2048), log=lines.append)
    cases = [
        (request(server, "POST", "/v1/chat/completions", raw=b"{not json"), 400, "not valid JSON"),
        (request(server, "POST", "/v1/chat/completions", raw=b"[1, 2]"), 400, "JSON object"),
        (request(server, "POST", "/v1/chat/completions", raw=b"\xff\xfe"), 400, "not valid JSON"),
        (chat(server, messages="hello"), 400, "non-empty list"),
        (chat(server, messages=[{"role": "wizard", "content": "hi"}]), 400, "messages[0].role"),
        (chat(server, messages=[{"role": "user", "content": 5}]), 400, "messages[0].content"),
        (chat(server, messages=[{"role": "assistant", "content": "hi"}]), 400, "last message"),
        (chat(server, temperature=[1]), 400, "temperature must be a number"),
        (chat(server, model="gpt-4"), 404, "does not exist"),
        (chat(server, messages=[{"role": "user", "content": "x" * 5000}]), 413, "at most 2048"),
        (request(server, "POST", "/v1/chat/completions", raw=b"{}", headers={"Content-Type": "text/plain"}),
         415, "application/json"),
        (request(server, "GET", "/v1/nothing"), 404, "no such path"),
        (request(server, "GET", "/v1/chat/completions"), 405, "does not accept GET"),
        (request(server, "DELETE", "/v1/models"), 405, "does not accept DELETE"),
        (request(server, "GET", "/v1/models/nope"), 404, "does not exist"),
        (request(server, "GET", "/health", headers={"Host": "attacker.example:80"}), 403, "not a loopback name"),
    ]
    for (status, response, body), expected, words in cases:
        assert status == expected, body
        assert response.getheader("Content-Type") == "application/json"
        assert set(body["error"]) == {"message", "type", "param", "code"} and words in body["error"]["message"]
    status, response, _ = request(server, "GET", "/v1/chat/completions")
    assert response.getheader("Allow") == "POST"

    # not even HTTP: the base class's own error, as JSON too
    with socket.create_connection(server.server_address[:2], timeout=10) as raw:
        raw.sendall(b"GET / extra HTTP/1.1\r\n\r\n")
        answer = raw.makefile("rb").read().decode()  # the server hangs up after it
    assert answer.startswith("HTTP/1.") and " 400 " in answer.splitlines()[0] and '"error"' in answer

    status, _, body = chat(server)
    assert status == 200 and body["choices"][0]["message"]["content"] == "word0 word1 word2 word3 "
    # one log line per request, saying why it failed (written just after the answer is sent)
    deadline = time.monotonic() + 5
    while len(lines) < len(cases) + 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert len(lines) == len(cases) + 3
    assert any(" POST /v1/chat/completions 400 " in line and "not valid JSON" in line for line in lines)
    assert any(" 413 " in line and "at most 2048" in line for line in lines)
    assert "'GET / extra HTTP/1.1' 400: Bad request syntax" in lines[-2]
    assert lines[-1].startswith("127.0.0.1 POST /v1/chat/completions 200 ") and ": " not in lines[-1][30:]


def test_an_error_before_the_body_is_read_closes_the_connection_cleanly(slow_server):
    """A 401 is answered before the body is read: the server hangs up and says so (that body must
    not be read as the next request), and a keep-alive client carries on over a new connection."""
    server = slow_server(token="s3cret")
    connection = http.client.HTTPConnection(*server.server_address[:2], timeout=10)
    for key, expected in (("wrong", 401), ("s3cret", 200)):
        connection.request("POST", "/v1/chat/completions", body=json.dumps({"messages": QUESTION}),
                           headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"})
        response = connection.getresponse()
        response.read()
        assert response.status == expected
    connection.close()


def test_queue_bound_answers_429_and_the_waiting_requests_finish(slow_server):
    gate = threading.Event()
    server = slow_server(SlowEngine(gate=gate), limits=Limits(queue=1))
    results: list = []
    threads = [threading.Thread(target=lambda: results.append(chat(server)[::2])) for _ in range(2)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 10
    while server.slots["slow"].pending < 2 and time.monotonic() < deadline:  # one running, one waiting
        time.sleep(0.01)
    status, response, body = chat(server)
    assert status == 429 and body["error"]["code"] == "queue_full" and response.getheader("Retry-After") == "1"
    gate.set()
    for thread in threads:
        thread.join(20)
    assert [status for status, _ in results] == [200, 200]
    assert server.slots["slow"].pending == 0
    assert chat(server)[0] == 200  # room again


def test_a_slow_generation_is_cut_at_the_timeout(slow_server):
    server = slow_server(SlowEngine(words=40, delay=0.05), limits=Limits(timeout_s=0.5))
    started = time.monotonic()
    status, _, body = chat(server, max_tokens=40)
    assert time.monotonic() - started < 3
    text = body["choices"][0]["message"]["content"]
    assert status == 200 and body["choices"][0]["finish_reason"] == "length"
    assert text.startswith("word0 ") and 0 < len(text.split()) < 40
    wait_until_idle(server, within=0.5)  # cut, not left running its remaining ~1.5 s

    stuck = slow_server(SlowEngine(first_delay=1.5), limits=Limits(timeout_s=0.3))
    status, _, body = chat(stuck)
    assert status == 504 and body["error"]["code"] == "timeout"
    status, _, events = chat(stuck, stream=True)  # waits for the stuck one, then is cut too
    assert status == 200 and '"code": "timeout"' in events and events.rstrip().endswith("data: [DONE]")


def test_streaming_over_raw_http_is_server_sent_events(slow_server):
    server = slow_server()
    status, response, text = chat(server, stream=True, stream_options={"include_usage": True})
    assert status == 200 and response.getheader("Content-Type").startswith("text/event-stream")
    events = [line.removeprefix("data: ") for line in text.split("\n\n") if line]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert chunks[0]["choices"][0]["delta"]["role"] == "assistant" and "personatune" in chunks[0]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"]) == \
        "word0 word1 word2 word3 "
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["usage"]["completion_tokens"] == 4


# ---------------------------------------------------------------- the OpenAI client on the real model


@pytest.fixture(scope="module")
def live(example_built):
    ws, _ = example_built
    engines = small_engines("base", "base-copy")
    with running(make_server(ws, engines, settings=GREEDY, toggles=PLAIN, log=lambda _: None)) as server:
        yield server


def client(server, key: str = "unused") -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}v1", api_key=key, max_retries=0, timeout=60)


@pytest.mark.integration
def test_models_are_listed_in_order(live):
    api = client(live)
    assert [m.id for m in api.models.list()] == ["base", "base-copy"]
    assert api.models.retrieve("base-copy").id == "base-copy"


@pytest.mark.integration
def test_completion_has_the_openai_shape(live):
    reply = client(live).chat.completions.create(model="base", messages=QUESTION, max_tokens=8)
    assert reply.object == "chat.completion" and reply.id.startswith("chatcmpl-") and reply.model == "base"
    choice = reply.choices[0]
    assert choice.message.role == "assistant" and choice.message.content.strip()
    assert choice.finish_reason in ("stop", "length")
    usage = reply.usage
    assert usage.completion_tokens <= 8 and usage.prompt_tokens > 10
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert reply.model_extra["personatune"] == {"passages": [], "dropped": 0}


@pytest.mark.integration
def test_streaming_matches_the_whole_greedy_answer(live):
    api = client(live)
    whole = api.chat.completions.create(model="base", messages=QUESTION, max_tokens=12, seed=1)
    chunks = list(api.chat.completions.create(model="base", messages=QUESTION, max_tokens=12, seed=1,
                                              stream=True, stream_options={"include_usage": True}))
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == whole.choices[0].message.content and len(chunks) > 3  # streamed in pieces, not at once
    finals = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finals == [whole.choices[0].finish_reason]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens


@pytest.mark.integration
def test_card_and_retrieval_are_toggled_per_request_with_provenance(live):
    api = client(live)
    question = [{"role": "user", "content": "What was your first real tool?"}]
    plain = api.chat.completions.create(model="base", messages=question, max_tokens=1)
    full = api.chat.completions.create(model="base", messages=question, max_tokens=1,
                                       extra_body={"persona_card": True, "rag": True})
    assert full.usage.prompt_tokens > plain.usage.prompt_tokens + 200  # card and passages are in the prompt
    passages = full.model_extra["personatune"]["passages"]
    assert passages and all(p["where"] and p["text"] for p in passages)
    assert any("first real tool" in p["text"] for p in passages)
    assert any(" @ " in p["where"] for p in passages)  # file @ time or char offset


@pytest.mark.integration
def test_a_client_that_leaves_mid_stream_frees_the_model(live):
    connection = http.client.HTTPConnection(*live.server_address[:2], timeout=60)
    connection.request("POST", "/v1/chat/completions", headers={"Content-Type": "application/json"},
                       body=json.dumps({"model": "base", "messages": QUESTION, "stream": True, "max_tokens": 400,
                                        "min_tokens": 400}))
    response = connection.getresponse()
    assert response.readline().startswith(b"data: ")  # the first chunk is there: it is generating
    connection.close()
    wait_until_idle(live, within=5)  # 400 tokens would take far longer than this
    assert client(live).chat.completions.create(model="base", messages=QUESTION, max_tokens=2).choices


@pytest.mark.integration
def test_client_errors_are_the_openai_exceptions(live, example_built):
    api = client(live)
    with pytest.raises(openai.NotFoundError):
        api.chat.completions.create(model="gpt-4o", messages=QUESTION)
    with pytest.raises(openai.BadRequestError, match="temperature"):
        api.chat.completions.create(model="base", messages=QUESTION, temperature=-1)
    with pytest.raises(openai.BadRequestError, match="top_p"):
        api.chat.completions.create(model="base", messages=QUESTION, top_p=2)
    with pytest.raises(openai.BadRequestError, match="last message"):
        api.chat.completions.create(model="base", messages=[{"role": "system", "content": "hi"}])

    ws, _ = example_built
    guarded = make_server(ws, live.engines, token="s3cret", settings=GREEDY, toggles=PLAIN, log=lambda _: None)
    with running(guarded):
        with pytest.raises(openai.AuthenticationError):
            client(guarded, "wrong").models.list()
        status, _, body = request(guarded, "GET", "/v1/models")  # no Authorization header at all
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        assert client(guarded, "s3cret").chat.completions.create(model="base-copy", messages=QUESTION,
                                                                 max_tokens=2).choices[0].message.content
        assert request(guarded, "GET", "/")[0] == 200  # the page itself needs no token
