"""A probe the run trained on word for word is asked in a phrasing the run never saw."""

from __future__ import annotations

import pytest
import yaml

from personatune.errors import UserError


def test_a_trained_probe_is_asked_in_its_first_untrained_phrasing():
    from personatune.eval.evaluate import Item, ask_untrained
    from personatune.eval.metrics.text import normalise

    born = Item("identity", "identity-01", "Where were you born?", ["Gdansk"],
                rephrased=["Where are you FROM?", "Which city were you born in?"])
    dog = Item("identity", "identity-02", "Do you have any pets?", ["Biscuit"])  # no other phrasing
    tool = Item("identity", "identity-03", "What was your first real tool?", ["Stanley"], rephrased=["Which tool first?"])
    plywood = Item("opinions", "opinions-01", "Is using plywood cheating?", rephrased=["Is plywood okay?"])
    trained = {normalise(q) for q in ("where were you born", "Where are you from?", "Do you have any pets?",
                                      "Is using plywood cheating?")}
    swapped = ask_untrained({"identity": [born, dog, tool], "opinions": [plywood]}, trained, log=lambda _: None)
    assert born.question == "Which city were you born in?"  # the first phrasing was trained on too
    assert dog.question == "Do you have any pets?"  # nothing else to ask: scoring leaves it out
    assert tool.question == "What was your first real tool?"  # never trained on: asked as written
    assert plywood.question == "Is plywood okay?"
    assert swapped == {"identity-01": {"trained": "Where were you born?", "asked": "Which city were you born in?"},
                       "opinions-01": {"trained": "Is using plywood cheating?", "asked": "Is plywood okay?"}}


def test_probes_carry_their_rephrasings_into_the_eval_items(example_ws):
    from personatune.eval.evaluate import _probes

    identity, opinions = _probes(example_ws, [])
    assert all(len(item.rephrased) >= 2 for item in identity + opinions)  # the example writes two for every probe
    assert all(item.question not in item.rephrased for item in identity + opinions)


def test_rephrased_must_be_a_list_of_questions(tmp_path):
    from personatune.data.pairs import load_probes

    path = tmp_path / "probes.yaml"
    path.write_text(yaml.safe_dump({"identity": [{"question": "Where?", "answer": "Here.", "rephrased": "Whence?"}]}))
    with pytest.raises(UserError, match="`rephrased` must be a list"):
        load_probes(path)
