"""The ratio sweep end to end on the example persona, kept tiny (1 optimizer step per ratio)."""

from __future__ import annotations

import json

import pytest

from personatune.errors import UserError
from personatune.eval.sweep import parse_grid, recommend


def test_recommendation_prefers_quiet_flags_then_persona_score():
    rows = [{"ratio": 1, "run_id": "a", "persona_score": 0.2, "fired": []},
            {"ratio": 10, "run_id": "b", "persona_score": 0.5, "fired": []},
            {"ratio": 30, "run_id": "c", "persona_score": 0.7, "fired": ["bleed", "verbatim"]}]
    choice = recommend(rows)
    assert choice["ratio"] == 10 and any("ratio 30 scored higher" in r for r in choice["reasons"])
    noisy = [{**r, "fired": ["bleed"]} for r in rows]
    assert recommend(noisy)["ratio"] == 30  # every ratio fired: the best persona score among the fewest flags


def test_generation_grid_flags_are_checked():
    assert parse_grid(["temperature=0.3,0.7", "min_new_tokens=0,32"]) == {
        "temperature": ["0.3", "0.7"], "min_new_tokens": ["0", "32"]}
    with pytest.raises(UserError, match="unknown setting"):
        parse_grid(["temprature=0.3"])
    with pytest.raises(UserError, match="KEY=VALUE"):
        parse_grid(["temperature"])


@pytest.mark.integration
def test_sweep_trains_evaluates_recommends_and_restores(example_ws, capsys):  # ~3 min: two tiny runs
    from personatune import artifacts
    from personatune.cli import main
    from personatune.data.runner import read_record, run_pipeline

    ws = example_ws
    run_pipeline(ws, log=lambda _: None)
    # The rows themselves, not the folder hash: report.json records how many seconds the stage took.
    own_train = artifacts.sha256_file(ws.stage_dir("build") / "train.jsonl")
    own_ratio = read_record(ws.stage_dir("build"))["settings"]["ratio"]
    code = main(["sweep", str(ws.root), "--ratios", "1,3", "--gen", "temperature=0,0.8",
                 "--train-set", "max_steps=1", "--train-set", "batch_size=4", "--train-set", "max_length=160",
                 "--train-set", "eval_every=0", "--train-set", "save_every=0", "--train-set", "warmup_steps=0",
                 "--train-set", "replay=0",
                 "--eval-set", "variants=base,tuned", "--eval-set", "max_new_tokens=8", "--eval-set", "general=6",
                 "--eval-set", "neutral=6", "--eval-set", "transfer=1", "--eval-set", "verbatim=3",
                 "--eval-set", "verbatim_tokens=16", "--eval-set", "quick=true"])  # the default model: merged
    assert code == 0
    folder = next((ws.root / "sweeps").iterdir())
    record = json.loads((folder / "sweep.json").read_text())
    assert [r["ratio"] for r in record["ratios"]] == [1, 3]
    assert record["recommendation"]["ratio"] in (1, 3) and record["recommendation"]["reasons"]
    assert len(record["grid"]) == 2 and all(r["median_tokens"] > 0 for r in record["grid"])
    page = (folder / "sweep.html").read_text()
    assert page.count("data:image/png;base64,") == 2 and "Recommended ratio" in page
    assert record["eval"].startswith("quick subset") and "quick subset" in page
    # the base model answers each prompt once: the second ratio generates base answers only for prompts the
    # first did not ask (verbatim questions are drawn from that ratio's training rows)
    asked = [{(a["set"], a["prompt"]) for a in artifacts.read_jsonl(ws.root / "eval" / r["eval_id"] / "answers.jsonl")
              if a["variant"] == "base"} for r in record["ratios"]]
    second = json.loads((ws.root / "eval" / record["ratios"][1]["eval_id"] / "eval.json").read_text())
    counts = second["answer_cache"]["by_variant"]
    assert counts["base"]["generated"] == len(asked[1] - asked[0]) < counts["base"]["reused"]
    assert counts["tuned"]["generated"] > 0 and counts["tuned"]["reused"] == 0
    runs = {p.name: json.loads((p / "run.json").read_text()) for p in (ws.root / "runs").iterdir()}
    assert sorted(r["sweep"]["ratio"] for r in runs.values()) == [1, 3]
    assert all((ws.root / "runs" / r["run_id"] / "merged").is_dir() for r in record["ratios"])  # what eval read
    assert artifacts.sha256_file(ws.stage_dir("build") / "train.jsonl") == own_train  # its own ratio is back
    assert read_record(ws.stage_dir("build"))["settings"]["ratio"] == own_ratio == "auto"
    assert "recommended ratio" in capsys.readouterr().out
