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


def test_the_dataset_stage_reads_the_card_only_when_rows_are_trained_as_served(tmp_path):
    from personatune import artifacts
    from personatune.data import dataset
    from personatune.workspace import init_workspace

    init_workspace(tmp_path / "ws", [str(tmp_path)], name="Marta")
    ws = Workspace.open(tmp_path / "ws")
    label = ws.stage_dir("label")
    label.mkdir(parents=True)
    artifacts.write_jsonl(label / "labels.jsonl", [
        {"segment_id": "s0", "label": "persona", "subtype": "background", "score": 0.9, "source": "a.md",
         "text": "I grew up in Duluth, Minnesota, and I still live there with my husband."}])
    with (ws.root / "persona.yaml").open("a", encoding="utf-8") as f:
        f.write("build:\n  served_share: 0\n")
    ws = Workspace.open(tmp_path / "ws")
    assert "card" not in dataset.inputs(ws, dataset.Settings())
    assert not (ws.root / CARD).exists()  # nothing written for a card no row carries
    config = (ws.root / "persona.yaml").read_text(encoding="utf-8").replace("served_share: 0", "served_share: 0.2")
    (ws.root / "persona.yaml").write_text(config, encoding="utf-8")
    ws = Workspace.open(tmp_path / "ws")
    assert dataset.inputs(ws, dataset.Settings())["card"] and (ws.root / CARD).exists()
