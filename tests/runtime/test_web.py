"""The web chat page in real headless Chromium against a live server on the real small model.

Screenshots go to tests/artifacts/ for a person to look at."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from serving import running, small_engines

from personatune.persona.prompting import Toggles
from personatune.runtime.generation import Settings
from personatune.runtime.serve import make_server

pytestmark = pytest.mark.integration
ARTIFACTS = Path(__file__).parents[1] / "artifacts"
REPLIED = ("(() => {{ const replies = [...document.querySelectorAll('{column} .reply')];"
           " return replies.length > 0 && replies.every(r => r.textContent.trim().length > 0)"
           " && !document.querySelector('#send').disabled; }})()")


@pytest.fixture(scope="module")
def live(example_built):
    ws, _ = example_built
    settings = Settings(temperature=0.0, max_new_tokens=20)
    server = make_server(ws, small_engines("base", "base-copy"), settings=settings, toggles=Toggles(card=True, rag=True),
                         log=lambda _: None)
    with running(server):
        yield server




def test_a_message_streams_a_reply_with_its_sources(live, browser):
    page = browser.open(live.url)
    page.wait_for("document.querySelector('#model-a').options.length === 2")
    assert page.evaluate("document.querySelector('#persona').textContent") == "Marta Kowalczyk"
    assert page.evaluate("[document.querySelector('#card').checked, document.querySelector('#rag').checked,"
                         " document.querySelector('#max-tokens').value]") == [True, True, "20"]
    page.type("#message", "What was your first real tool?")
    page.press_enter()  # Enter sends; the box empties at once
    assert page.evaluate("document.querySelector('#message').value") == ""
    page.wait_for(REPLIED.format(column="#column-a"), timeout=120)
    assert page.evaluate("document.querySelector('#column-a .message.user').textContent") == \
        "What was your first real tool?"
    assert page.evaluate("document.querySelectorAll('#column-a .failed').length") == 0
    page.click("#column-a details.sources summary")  # provenance is collapsed until asked for
    assert page.evaluate("document.querySelector('#column-a details.sources').open") is True
    assert " @ " in page.evaluate("document.querySelector('#column-a .where').textContent")
    page.screenshot(ARTIFACTS / "web-chat.png")
    assert page.problems() == []


def test_side_by_side_streams_two_models_at_once(live, browser):
    page = browser.open(live.url)
    page.wait_for("document.querySelector('#model-a').options.length === 2")
    page.click("#side-by-side")
    assert page.evaluate("document.querySelector('#column-b').hidden") is False
    assert page.evaluate("[document.querySelector('#model-a').value, document.querySelector('#model-b').value]") \
        == ["base", "base-copy"]
    page.click("#rag")  # retrieval off: a quicker prompt, and no sources listed
    busiest, done = [0], threading.Event()

    def sample() -> None:  # how many models are busy at once, seen from the server
        while not done.wait(0.01):
            busiest[0] = max(busiest[0], sum(1 for slot in live.slots.values() if slot.pending))

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    page.type("#message", "Tell me about your workshop.")
    page.click("#send")
    page.wait_for(REPLIED.format(column="#column-a") + " && " + REPLIED.format(column="#column-b"), timeout=120)
    done.set()
    thread.join()
    assert busiest[0] == 2  # both models were generating at the same time
    assert page.evaluate("document.querySelectorAll('details.sources').length") == 0
    for column in ("#column-a", "#column-b"):  # each column holds its own exchange
        assert page.evaluate(f"[...document.querySelectorAll('{column} .message')].map(m => m.className)") == \
            ["message user", "message assistant"]
    page.screenshot(ARTIFACTS / "web-side-by-side.png")

    page.click("#new-chat")
    assert page.evaluate("document.querySelectorAll('.message').length") == 0
    assert page.problems() == []


def test_a_token_typed_into_the_page_unlocks_the_api(live, example_built, browser):
    ws, _ = example_built
    guarded = make_server(ws, live.engines, token="s3cret", settings=Settings(temperature=0.0, max_new_tokens=4),
                          toggles=Toggles(card=False, rag=False), log=lambda _: None)
    with running(guarded):
        page = browser.open(guarded.url)  # the page itself needs no token
        page.wait_for("document.querySelector('#status').classList.contains('error')")
        assert "API token" in page.evaluate("document.querySelector('#status').textContent")
        page.type("#token", "s3cret")
        page.click("#message")  # leaving the field applies the token
        page.wait_for("document.querySelector('#model-a').options.length === 2")
        page.type("#message", "Hello!")
        page.click("#send")
        page.wait_for(REPLIED.format(column="#column-a"), timeout=120)
        assert page.evaluate("document.querySelectorAll('.failed').length") == 0
