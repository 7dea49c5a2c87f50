from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from serving import ChatEndpoint

from personatune.data.pairs import Settings, contrastive_rows, lexical_problem, load_probes
from personatune.data.questions import OpenAIBackend, parse_lines
from personatune.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
ANSWER = ("I was born in Gdansk, and my grandfather built wooden fishing boats there. When I was fourteen my "
          "parents moved us to Duluth, and he gave me his old jack plane before we left.")


@pytest.mark.parametrize("question, problem", [
    ("", "empty"),
    ("Tell me about your grandfather", None),
    ("Your grandfather built boats.", "not phrased as a question"),
    ("Why?", "too short"),
    ("I was born in Gdansk, and my grandfather built wooden fishing boats there?", "copy of the answer"),
    ("What is the capital of Australia and its population?", "unrelated to the answer (no shared content words)"),
    ("What did your grandfather give you before you moved to Duluth?", None),
])
def test_question_validation(question, problem):
    assert lexical_problem(question, ANSWER, Settings(), []) == problem


def test_duplicate_questions_are_rejected():
    q = "What did your grandfather give you?"
    assert lexical_problem(q, ANSWER, Settings(), [q]) == "duplicate of another question"


def test_contrastive_pairs_come_from_does_not_have():
    rows = contrastive_rows(ROOT / "examples" / "probes.yaml")
    assert len(rows) >= 5
    degree = next(r for r in rows if "degree" in r["claim"])
    assert degree["text"].startswith("No.") and len(degree["questions"]) >= 2
    assert all(r["label"] == "persona" and r["kind"] == "contrastive" for r in rows)


def test_example_probes_file_has_enough_facts_opinions_and_denials():
    probes = load_probes(ROOT / "examples" / "probes.yaml")
    assert len(probes["identity"]) >= 15 and len(probes["opinions"]) >= 10 and len(probes["does_not_have"]) >= 5
    for item in probes["identity"] + probes["opinions"]:
        assert item["expected"] and item["source"].startswith("videos/")
        assert (ROOT / "examples" / "creator" / item["source"]).exists(), item["source"]


def test_malformed_probes_file_is_one_clear_error(tmp_path):
    path = tmp_path / "probes.yaml"
    path.write_text("does_not_have:\n  - {claim: a degree}\n")
    with pytest.raises(UserError, match="does_not_have item 1 lacks questions, answer"):
        load_probes(path)


def test_parse_lines_strips_numbering():
    assert parse_lines('1. Where did you grow up?\n2) "Why boats?"\n- What tool came first?\n\n') == [
        "Where did you grow up?", "Why boats?", "What tool came first?"]


class _ChatHandler(BaseHTTPRequestHandler):
    seen: list[dict] = []

    def do_POST(self):  # noqa: N802 - http.server naming
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        _ChatHandler.seen.append({"path": self.path, "body": body, "auth": self.headers.get("Authorization")})
        content = "1. Where were you born?\n2. What did your grandfather build?\n3. Why did your family move?"
        payload = json.dumps({"choices": [{"message": {"role": "assistant", "content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


def test_openai_backend_talks_to_a_real_http_endpoint():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ChatHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        backend = OpenAIBackend(f"http://127.0.0.1:{server.server_port}/v1", "tiny", "sk-test", "Marta")
        questions = backend.propose({"segment_id": "s", "text": ANSWER}, 3, attempt=0)
    finally:
        server.shutdown()
    assert questions == ["Where were you born?", "What did your grandfather build?", "Why did your family move?"]
    request = _ChatHandler.seen[-1]
    assert request["path"] == "/v1/chat/completions" and request["auth"] == "Bearer sk-test"
    assert request["body"]["model"] == "tiny" and ANSWER in request["body"]["messages"][0]["content"]


def test_openai_backend_unreachable_is_a_user_error():
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m", "", "Marta", timeout=2)
    with pytest.raises(UserError, match="cannot reach question endpoint"):
        backend.propose({"segment_id": "s", "text": ANSWER}, 3, attempt=0)


def test_openai_backend_needs_url_and_model():
    with pytest.raises(UserError, match="base URL and a model"):
        OpenAIBackend("", "", "", "Marta")


@pytest.mark.integration
def test_local_backend_writes_questions_with_the_base_model():
    from personatune.data.questions import LocalBackend

    backend = LocalBackend("smollm2-135m-instruct", "Marta", max_new_tokens=48, seed=0)
    questions = backend.propose({"segment_id": "s1", "text": ANSWER}, 3, attempt=0)
    assert 1 <= len(questions) <= 3
    assert all(isinstance(q, str) and q.strip() for q in questions)
    # the stage validates whatever a small model writes; nothing is trusted blindly
    verdicts = [lexical_problem(q, ANSWER, Settings(), []) for q in questions]
    assert all(v is None or isinstance(v, str) for v in verdicts)


# ---------------------------------------------------------------- the stage against a real loopback endpoint

SEGMENTS = [
    {"segment_id": f"s{n}", "label": label, "subtype": "background" if label == "persona" else None, "text": text}
    for n, (label, text) in enumerate([
        ("persona", "I was born in Gdansk, and my grandfather built wooden fishing boats there."),
        ("persona", "My parents moved us to Duluth when I was fourteen, and I still live there."),
        ("instructional", "Yellow glue is used to join wood. It sets in ten minutes, so clamp quickly."),
        ("instructional", "To flatten the back of a chisel, hone it on a diamond plate before the bevel."),
        ("instructional", "A blast gate is a sliding door in a dust collection duct. Put one at every drop."),
        ("other", "Thanks for watching, and see you next Sunday."),
    ])]
GOOD = {"s0": "Where were you born?\nWhat did your grandfather build in Gdansk?\nWhat boats did he build?",
        "s1": "Where did your parents move you?\nWhere do you live now?\nHow old were you when you moved to Duluth?",
        "s2": "How long does yellow glue take to set?\nWhat is yellow glue used for?\nHow fast should I clamp glue?",
        "s3": "How do I flatten the back of a chisel?\nWhat do I hone a chisel on?\nWhen do I sharpen the bevel?",
        "s4": "What is a blast gate?\nWhere do blast gates go?\nWhat does a dust collection duct need?"}


# What a model names as facts: the answer after "||" must be the passage's own sentence, word for word.
FACTS = {"s0": "1. Where were you born? || I was born in Gdansk\n"
               "What did your grandfather build? || he built houses in Warsaw\n"  # not in the passage: dropped
               "What did you do last summer? no separator here",  # not a fact line: dropped
         "s1": "- Where do you live now? || I still live there."}


def Endpoint(mode: str = "good") -> ChatEndpoint:  # noqa: N802 - reads as the server it makes
    """An OpenAI-compatible chat endpoint that answers as told: `mode` is good, garbage, notjson, slow or
    fail_after:N."""
    def reply(body: dict):
        prompt = body["messages"][0]["content"]
        if mode.startswith("fail_after:") and len(endpoint.requests) > int(mode.split(":")[1]):
            return 500, b"model crashed"
        if mode == "slow":
            import time
            time.sleep(1.5)
        if mode == "notjson":
            return 200, b"<html>502 Bad Gateway</html>"
        sid = next((k for k in GOOD if _text_of(k) in prompt), None)
        if mode == "garbage":
            return "As an AI language model I cannot help."
        return FACTS.get(sid, "") if " || " in prompt else GOOD[sid]

    endpoint = ChatEndpoint(reply)
    return endpoint


def _text_of(segment_id: str) -> str:
    return next(s["text"] for s in SEGMENTS if s["segment_id"] == segment_id)


def run_stage(ws, tmp_path, endpoint: Endpoint | None, **overrides):
    from personatune import artifacts
    from personatune.data import pairs
    from personatune.data.stage import StageContext

    previous, out = tmp_path / "label", tmp_path / "pairs"
    previous.mkdir(exist_ok=True)
    out.mkdir(exist_ok=True)
    artifacts.write_jsonl(previous / "labels.jsonl", SEGMENTS)
    backend = {"backend": "openai", "openai_base_url": endpoint.url, "openai_model": "m", "openai_timeout": 0.5} \
        if endpoint else {}
    settings = pairs.Settings(**{"contrastive": False, "similarity_check": "none", **backend, **overrides})
    log: list[str] = []
    report = pairs.run(StageContext(ws, out, previous, log=log.append), settings)
    return report, artifacts.read_jsonl(out / "pairs.jsonl"), log


def serving(endpoint: Endpoint):
    from serving import running

    return running(endpoint)


def test_openai_stage_checks_every_question_and_resumes_from_its_cache(example_ws, tmp_path):
    with serving(Endpoint("fail_after:3")) as endpoint:
        with pytest.raises(UserError, match="answered HTTP 500"):
            run_stage(example_ws, tmp_path, endpoint)
    cache = example_ws.root / "cache" / "questions.jsonl"
    assert len(cache.read_text().splitlines()) == 3  # what was answered before the crash is kept
    with serving(Endpoint("good")) as endpoint:
        report, rows, _ = run_stage(example_ws, tmp_path, endpoint)
        assert len(endpoint.requests) == 2 + 2  # the two segments not answered yet, the two persona segments' facts
    by_id = {r["segment_id"]: r for r in rows}
    assert by_id["s0"]["questions"][0] == "Where were you born?" and "s5" not in by_id
    # the model names the facts; the answer is the passage's own whole sentence, never the model's words
    facts = {r["parent"]: r for r in rows if r["kind"] == "fact"}
    assert facts["s0"]["questions"] == ["Where were you born?"] and facts["s0"]["text"] == _text_of("s0")
    assert report["fact_pairs"] == len(facts) and all(r["label"] == "persona" for r in facts.values())
    # the same checks as every backend: "Where do you live now?" does not find s1 among the segments
    assert report["checks"]["persona"]["round trip"]["failed"] >= 0
    assert all(len(r["questions"]) >= 1 for r in rows)
    with serving(Endpoint("good")) as endpoint:
        run_stage(example_ws, tmp_path, endpoint)
        assert endpoint.requests == []  # a rerun asks nothing


@pytest.mark.parametrize("mode, message", [
    ("garbage", "answered no question for 5 segments in a row"),
    ("notjson", "answered something that is not JSON"),
    ("slow", "did not answer within 0.5s"),
])
def test_a_misbehaving_endpoint_is_one_clear_line(example_ws, tmp_path, mode, message):
    with serving(Endpoint(mode)) as endpoint:
        with pytest.raises(UserError, match=message):
            run_stage(example_ws, tmp_path, endpoint)


def test_template_stage_drops_questions_that_do_not_find_their_answer(example_ws, tmp_path):
    report, rows, _ = run_stage(example_ws, tmp_path, None)
    from personatune.data.retrieval import BM25

    index = BM25([s["text"] for s in SEGMENTS])
    for row in rows:
        position = next(i for i, s in enumerate(SEGMENTS) if s["segment_id"] == row.get("parent", row["segment_id"]))
        assert all(position in index.top(q, 3) for q in row["questions"]), row
    facts = [r for r in rows if r["kind"] == "fact"]
    assert {f["parent"] for f in facts} <= {"s0", "s1"} and facts
    born = next(f for f in facts if "Where were you born?" in f["questions"])
    assert born["text"].startswith("I was born in Gdansk") and born["label"] == "persona"
    assert born["segment_id"] == "s0~fact0" and report["fact_pairs"] == len(facts)
    assert set(report["checks"]) >= {"persona", "instructional", "fact"}
    lessons = {r["segment_id"]: r["questions"] for r in rows if r["label"] == "instructional"}
    # the lesson read off the teaching sentence first, then the statements asked back
    assert lessons == {"s2": ["What is yellow glue used for?", "Is yellow glue used to join wood?"],
                       "s3": ["How do you flatten the back of a chisel?"],
                       "s4": ["What is a blast gate?", "Is a blast gate a sliding door in a dust collection duct?"]}


@pytest.mark.integration
def test_openai_backend_against_personatune_serve_with_the_real_model(example_built):
    """The real OpenAI-compatible server of this project, a real small model behind it: whatever it writes
    comes back as lines the stage can check."""
    from serving import running, small_engines

    from personatune.runtime.generation import Settings as Generation
    from personatune.runtime.serve import make_server

    ws, _ = example_built
    server = make_server(ws, small_engines("base"), settings=Generation(max_new_tokens=48, temperature=0.0),
                         log=lambda _: None)
    with running(server):
        backend = OpenAIBackend(f"{server.url}v1", "base", "", "Marta", timeout=120)
        questions = backend.propose({"segment_id": "s", "label": "persona", "text": ANSWER}, 3, attempt=0)
        facts = backend.facts({"segment_id": "s", "label": "persona", "text": ANSWER}, 3)
    assert isinstance(questions, list) and all(isinstance(q, str) and q.strip() for q in questions)
    # whatever a small model writes, a kept fact is a question answered by a sentence of the passage itself
    assert all(f.questions[0].endswith("?") and f.answer in ANSWER for f in facts)
    assert 1 <= len(questions) <= 3  # the model wrote something; the stage checks it like any answer


def test_a_persona_segment_nothing_was_asked_about_still_reaches_training(example_ws, tmp_path, monkeypatch):
    from personatune.data import pairs
    from personatune.data.template_questions import TemplateBackend

    # the writer finds nothing to ask about one persona segment (s1) and everything about the others
    original = TemplateBackend.propose
    monkeypatch.setattr(TemplateBackend, "propose",
                        lambda self, seg, n, attempt: [] if seg["segment_id"] == "s1" else original(self, seg, n, attempt))
    report, rows, log = run_stage(example_ws, tmp_path, None, fact_pairs=0, plain_questions=False)
    by_id = {r["segment_id"]: r for r in rows}
    assert by_id["s1"]["questions"] == [] and report["persona_plain_question"] == 0  # asked not to: it leaves training
    report, rows, log = run_stage(example_ws, tmp_path, None, fact_pairs=0)
    by_id = {r["segment_id"]: r for r in rows}
    assert by_id["s1"]["questions"] == [pairs.PLAIN_PERSONA_QUESTIONS["background"]]
    assert report["persona_plain_question"] == 1
    assert any("1 persona segments got only their subtype's plain question" in line for line in log)
    # an instructional segment nothing was asked about is not given a made-up question
    assert all(r["questions"] != [q] for r in rows if r["label"] != "persona" for q in pairs.PLAIN_PERSONA_QUESTIONS.values())


def test_the_readme_shows_the_prompts_the_openai_writer_sends():
    import re
    from pathlib import Path

    from personatune.data.questions import FACT_PROMPT, PROMPT

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    shown = [block.strip() for block in re.findall(r"```text\n(.*?)```", readme, re.S)]
    assert PROMPT.strip() in shown and FACT_PROMPT.strip() in shown
