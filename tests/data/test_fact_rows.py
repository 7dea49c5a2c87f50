"""Fact rows: which segments give facts, what a fact outside persona must be, and their provenance."""

from __future__ import annotations

from personatune.data.fact_rows import fact_rows, said_of_themselves
from personatune.data.pair_checks import Checks
from personatune.data.pairs import Settings
from personatune.data.template_questions import TemplateBackend

SEGMENTS = [
    {"segment_id": "p0", "label": "persona", "source": "/a/about.md",
     "text": "I was born in Gdańsk in 1987. My family moved a lot when I was small."},
    {"segment_id": "i0", "label": "instructional", "source": "/a/shell.md",
     "text": "Shell scripts are small programs. In my workflow, I use Vim as my editor, and Unix as my IDE. "
             "Open the file and add a shebang line."},
    {"segment_id": "i1", "label": "instructional", "source": "/a/c.md",
     "text": "Pointers hold addresses. We use NULL as our marker for an uninitialized pointer in C. "
             "Check it before you dereference."},
    {"segment_id": "i2", "label": "instructional", "source": "/a/glue.md",
     "text": "Glue sets in minutes. Clamp the joint firmly and wipe the squeeze-out with a damp rag."},
]


def _rows(facts_from: str) -> list[dict]:
    backend = TemplateBackend([s["text"] for s in SEGMENTS], person="Drew")
    return fact_rows(SEGMENTS, SEGMENTS, backend, Settings(facts_from=facts_from), Checks())


def test_by_default_only_persona_segments_give_facts():
    rows = _rows("persona")
    assert rows and {r["parent"] for r in rows} == {"p0"}
    assert rows[0]["questions"][0] == "Where were you born?" and rows[0]["read_from"] == "persona"


def test_every_segment_gives_what_the_person_says_of_themselves_as_persona_rows_with_provenance():
    rows = _rows("every")
    by_parent = {r["parent"]: r for r in rows}
    assert set(by_parent) == {"p0", "i0"}  # "we use NULL" is the author and the reader; the glue steps state no fact
    vim = by_parent["i0"]
    assert vim["questions"] == ["What editor do you use?"] and "I use Vim as my editor" in vim["text"]
    assert vim["label"] == "persona" and vim["read_from"] == "instructional" and vim["kind"] == "fact"
    assert vim["segment_id"].startswith("i0~fact") and vim["source"] == "/a/shell.md"


def test_a_fact_outside_persona_is_the_persons_own_and_not_advice():
    assert said_of_themselves(["What editor do you use?"], "I use Vim as my editor.")
    assert not said_of_themselves(["What marker do you use?"], "We use NULL as our marker, and I check it.")
    assert not said_of_themselves(["Do you recommend flux?"], "I recommend flux for every solder joint.")
    assert not said_of_themselves(["What is the default?"], "My default is fine.")
