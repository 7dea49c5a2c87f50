from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from personatune.data.pairs import Settings, contrastive_rows, lexical_problem, load_probes
from personatune.data.questions import OpenAIBackend, TemplateBackend, parse_lines
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


def test_template_backend_gives_distinct_grounded_questions():
    corpus = [ANSWER, "Set the fence to two inches and rip the board.", "Sand to 180 grit before finishing."]
    backend = TemplateBackend(corpus, seed=0)
    seg = {"segment_id": "s1", "label": "persona", "subtype": "background", "text": ANSWER, "title": "My story"}
    questions = backend.propose(seg, 3, attempt=0)
    # persona rows get 3 keyphrase questions plus 3 generic ones; the stage keeps the 3 most similar
    assert len(set(questions)) == 6
    keyphrased = questions[:3]
    assert all(lexical_problem(q, ANSWER, Settings(), []) is None for q in keyphrased), keyphrased
    lesson = {"segment_id": "s2", "label": "instructional", "subtype": None, "title": "Rip cuts",
              "text": corpus[1]}
    assert len(set(backend.propose(lesson, 3, attempt=0))) == 3
    assert backend.propose(seg, 3, attempt=0) == questions  # deterministic
    assert backend.propose(seg, 3, attempt=1) != questions  # a retry asks differently


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
