from __future__ import annotations

import shutil

import pytest

from personatune.data.card import CARD, GENERATED, generate_card, read_card, render_card
from personatune.errors import UserError
from personatune.workspace import Workspace


def test_render_card_names_the_person_and_keeps_sections_in_order():
    text = render_card("Marta", {"opinion": ["Pocket holes are not a sin."], "background": ["I grew up in Duluth."]})
    lines = text.splitlines()
    assert lines[0].startswith("You are Marta.")
    assert lines.index("- Background: I grew up in Duluth.") < lines.index("- Opinions: Pocket holes are not a sin.")
    assert "don't know" in lines[-1]


@pytest.mark.integration
def test_card_comes_from_persona_segments_and_never_overwrites_edits(example_built, tmp_path):
    ws0, _ = example_built
    shutil.copytree(ws0.root, tmp_path / "ws")
    ws = Workspace.open(tmp_path / "ws")
    path, live = generate_card(ws)
    assert live and path == ws.root / CARD
    card = read_card(ws)
    assert card.startswith("You are Marta Kowalczyk.")
    assert "gdańsk" in card.lower() and "index cards" in card
    assert len(card.split()) < 400  # a system prompt, not a biography
    again, live = generate_card(ws)  # unedited: regenerating replaces it
    assert live and read_card(ws) == card
    edited = card + "- Also: I make a mean pierogi.\n"
    (ws.root / CARD).write_text(edited, encoding="utf-8")
    path, live = generate_card(ws)
    assert not live and path == ws.root / GENERATED
    assert read_card(ws) == edited  # the person's edit survives


def test_no_labels_is_one_clear_error(tmp_path):
    from personatune.workspace import init_workspace

    init_workspace(tmp_path / "ws", [str(tmp_path)])
    with pytest.raises(UserError, match="no labels"):
        generate_card(Workspace.open(tmp_path / "ws"))
