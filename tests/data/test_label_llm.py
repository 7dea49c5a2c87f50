"""The optional LLM labeller against a real OpenAI-compatible endpoint on a loopback port."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from serving import ChatEndpoint, running

from personatune.data.label import Settings, auto_label
from personatune.data.label_llm import llm_pass, parse_answer
from personatune.errors import UserError

STORY = ("I grew up in a small town by the sea, and my father ran the hardware store there. When I was twelve I "
         "started sweeping the floors after school, and that is where I learned to love tools.")
LESSON = ("Set the fence to two inches and lock it. Next, make sure the blade is square to the table. Push the "
          "board through with a push stick, and keep your hands clear of the blade.")
NARRATION = ("Now I take the plane and set the iron so it takes a thin shaving. I push it along the edge, and then "
             "I check it with the square again before the glue-up.")


def Endpoint(mode: str) -> ChatEndpoint:  # noqa: N802 - reads as the server it makes
    """Answers as told: `good` labels by content, `garbage` refuses, `flaky` answers the first ask of
    each segment with prose and the second with JSON."""
    def reply(body: dict) -> str:
        passage = body["messages"][0]["content"].split("Passage:")[1]  # the passage, not the definition
        if "grew up" in passage:
            verdict = {"label": "persona", "subtype": "background", "reason": "where they grew up"}
        elif "Now I take the plane" in passage:
            verdict = {"label": "instructional", "subtype": None, "reason": "narrates the work"}
        else:
            verdict = {"label": "instructional", "subtype": None, "reason": "teaches a cut"}
        if mode == "garbage" or (mode == "flaky" and body["temperature"] == 0.0):
            return "As an AI language model I cannot label this."
        return f"Sure! Here is the label:\n```json\n{json.dumps(verdict)}\n```"

    return ChatEndpoint(reply)


def rows(texts):
    segments = [{"segment_id": f"d-{i:04d}", "doc_id": "d", "source": "/x/d.srt", "text": t} for i, t in enumerate(texts)]
    return auto_label(segments, Settings(), [], embedder=None, log=lambda _: None)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PERSONATUNE_CACHE", str(tmp_path / "models-cache"))


def test_answers_pass_the_same_checks_as_every_label():
    assert parse_answer('{"label": "persona", "subtype": "story", "reason": "a story"}')["subtype"] == "story"
    assert parse_answer('ok: {"label": "instructional", "subtype": "story"}')["subtype"] is None
    assert parse_answer('{"label": "persona", "subtype": "hobbies"}') is None  # unknown subtype
    assert parse_answer('{"label": "biography"}') is None and parse_answer("persona, I think") is None


def test_llm_labels_every_segment_and_resumes_from_its_cache(tmp_path):
    with running(Endpoint("good")) as server:
        settings = Settings(backend="openai", openai_base_url=server.url, openai_model="m")
        ws = SimpleNamespace(name="Ada", root=tmp_path / "ws")
        labelled = rows([STORY, LESSON, NARRATION])
        counts = llm_pass(labelled, settings, ws, log=lambda _: None)
        assert counts == {"asked": 3, "unusable": 0, "agreed_with_classifier": counts["agreed_with_classifier"]}
        assert [r["label"] for r in labelled] == ["persona", "instructional", "instructional"]
        assert labelled[0]["subtype"] == "background" and labelled[0]["labelled_by"] == "llm"
        assert "by m: where they grew up" in labelled[0]["reason"]
        assert "Ada" in server.requests[0]["messages"][0]["content"] and server.requests[0]["temperature"] == 0.0
        asked = len(server.requests)
        llm_pass(rows([STORY, LESSON, NARRATION]), settings, ws, log=lambda _: None)
        assert len(server.requests) == asked  # every answer came from DIR/cache/labels.jsonl


def test_an_unusable_answer_is_asked_again_then_the_classifier_stays(tmp_path):
    with running(Endpoint("flaky")) as server:
        settings = Settings(backend="openai", openai_base_url=server.url, openai_model="m")
        labelled = rows([STORY, LESSON])
        counts = llm_pass(labelled, settings, SimpleNamespace(name="Ada", root=tmp_path), log=lambda _: None)
        assert counts["unusable"] == 0 and len(server.requests) == 4  # each asked twice, the second answer used


def test_an_endpoint_that_answers_garbage_or_is_down_is_one_line(tmp_path):
    with running(Endpoint("garbage")) as server:
        settings = Settings(backend="openai", openai_base_url=server.url, openai_model="m")
        with pytest.raises(UserError, match="gave no usable label for 5 segments in a row") as caught:
            llm_pass(rows([STORY, LESSON, NARRATION, STORY + " Again.", LESSON + " Again.", NARRATION + " Again."]),
                     settings, SimpleNamespace(name="Ada", root=tmp_path), log=lambda _: None)
        assert "\n" not in str(caught.value)
    down = Settings(backend="openai", openai_base_url="http://127.0.0.1:9/v1", openai_model="m", openai_timeout=2)
    with pytest.raises(UserError, match="cannot reach label endpoint .* check label.openai_base_url"):
        llm_pass(rows([STORY]), down, SimpleNamespace(name="Ada", root=tmp_path / "b"), log=lambda _: None)
    with pytest.raises(UserError, match="needs a base URL and a model"):
        llm_pass(rows([STORY]), Settings(backend="openai"), SimpleNamespace(name="Ada", root=tmp_path), log=print)
