"""Replayed general instructions: the prompts the package ships, and rows answered by the real base model."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from personatune import artifacts
from personatune.errors import UserError
from personatune.registry import DEFAULT_BASE, materialize
from personatune.train import replay
from personatune.train.runs import Settings, train

ROOT = replay.resources.files("personatune.eval")
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
STOP = {"a", "an", "the", "of", "to", "in", "and", "is", "what", "how", "for", "on", "it", "me", "you", "i", "my",
        "your", "with", "do", "does", "can", "are", "be", "this", "that", "give", "write", "one", "two", "three"}


def words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower())) - STOP


def test_the_shipped_prompts_are_many_distinct_and_none_is_an_eval_item():
    prompts = replay.load_prompts()
    assert len(prompts) >= 200
    assert len({p["id"] for p in prompts}) == len(prompts)
    assert len({p["prompt"] for p in prompts}) == len(prompts)
    evaluated = []
    for name in ("general", "neutral"):
        evaluated += [i["prompt"] for i in yaml.safe_load(ROOT.joinpath(f"sets/{name}.yaml").read_text())["items"]]
    probes = yaml.safe_load((EXAMPLES / "probes.yaml").read_text())
    for kind in ("identity", "opinions"):
        evaluated += [q for p in probes[kind] for q in [p["question"], *p.get("rephrased", [])]]
    evaluated += [q for p in probes["does_not_have"] for q in p["questions"]]
    for p in prompts:
        mine = words(p["prompt"])
        for other in evaluated:
            theirs = words(other)
            assert len(mine & theirs) / len(mine | theirs) < 0.4, (p["id"], other)  # training on eval items


def test_rows_need_the_datasets_system_prompt():
    served = {"messages": [{"role": "system", "content": "card"}, {"role": "user", "content": "q"},
                           {"role": "assistant", "content": "a"}], "metadata": {"served": "gold"}}
    assert replay.system_prompt([served]) is None
    with pytest.raises(UserError, match="system prompt"):
        replay.replay_rows("unused.jsonl", None, None, "m", [served], 3, 0)
    assert replay.replay_rows("unused.jsonl", None, None, "m", [served], 0, 0) == []


def test_the_default_models_answers_ship_with_the_package_and_no_model_is_needed(tmp_path):
    shipped = replay.shipped_answers()
    keys = [replay.cache_key(DEFAULT_BASE, p["prompt"]) for p in replay.load_prompts()]
    assert set(keys) <= set(shipped)  # every prompt, whatever the seed and N choose
    assert sum(bool(shipped[k]) for k in keys) >= 100  # most answers end within MAX_NEW_TOKENS
    system = {"messages": [{"role": "system", "content": "You are Ada."}], "metadata": {}}
    cache, lines = tmp_path / "replay.jsonl", []
    rows = replay.replay_rows(cache, None, None, DEFAULT_BASE, [system], 200, 0, log=lines.append)
    assert not any("general prompts" in line for line in lines)  # no model asked (there is none here)
    assert len(rows) == sum(bool(shipped[replay.cache_key(DEFAULT_BASE, r["messages"][1]["content"])]) for r in rows)
    assert 100 <= len(rows) <= 200 and not cache.exists()  # nothing generated, nothing written
    assert all(r["messages"][2]["content"] == shipped[replay.cache_key(DEFAULT_BASE, r["messages"][1]["content"])]
               for r in rows)
    # a workspace's own answer wins over the package's (a cache made before the answers shipped)
    first = replay.cache_key(DEFAULT_BASE, rows[0]["messages"][1]["content"])
    artifacts.KeyedLog(cache).put_many([(first, "mine")])
    again = replay.replay_rows(cache, None, None, DEFAULT_BASE, [system], 200, 0, log=lines.append)
    assert again[0]["messages"][2]["content"] == "mine"
    # another model finds none of them
    assert not set(replay.cache_key("another-model", p["prompt"]) for p in replay.load_prompts()) & set(shipped)


class FakeDist:
    def __init__(self, main: bool, sent: list[dict] | None = None):
        self.main, self.sent = main, sent

    def broadcast(self, obj):
        return obj if self.main else self.sent


def test_a_resumed_run_reads_its_own_rows_and_other_processes_receive_the_first_ones(tmp_path):
    kept = [{"messages": [{"role": "user", "content": "q"}], "metadata": {"label": "replay"}}]
    artifacts.write_jsonl(tmp_path / "replay.jsonl", kept)
    settings = Settings(replay=3)
    # no model is needed: the run folder has them (whatever the cache says now)
    assert replay.rows_for_run(tmp_path, tmp_path / "cache.jsonl", None, None, "m", [], settings, True,
                               FakeDist(True)) == kept
    assert replay.rows_for_run(tmp_path / "new", tmp_path / "cache.jsonl", None, None, "m", [], settings, False,
                               FakeDist(False, kept)) == kept  # a second process generates nothing itself
    assert replay.rows_for_run(tmp_path, None, None, None, "m", [], Settings(replay=0), True, FakeDist(True)) == []


@pytest.mark.integration
def test_the_base_model_answers_once_and_training_records_the_rows(example_built):
    ws, _ = example_built
    # the default model's answers ship with the package: the same weights as a local folder have none
    tiny = dict(max_steps=1, batch_size=4, max_length=192, eval_every=0, save_every=0, warmup_steps=0, seed=3,
                base_model=str(materialize(DEFAULT_BASE)))
    lines = []
    run_dir = train(ws, Settings(**tiny, replay=5), log=lines.append, progress=False)
    trained = artifacts.read_json(run_dir / "run.json")["replay_rows"]
    assert 3 <= trained <= 5  # an answer that did not end within MAX_NEW_TOKENS is left out
    assert len(artifacts.read_jsonl(run_dir / "replay.jsonl")) == trained  # what a resume of this run reads back
    cached = artifacts.read_jsonl(ws.root / "cache" / "replay.jsonl")
    assert len(cached) == 5 and sum(bool(c["value"]) for c in cached) == trained
    assert any("answers 5 general prompts" in line for line in lines)

    system = replay.system_prompt(artifacts.read_jsonl(ws.stage_dir("dataset") / "messages" / "train.jsonl"))
    rows = replay.replay_rows(ws.root / "cache" / "replay.jsonl", None, None, tiny["base_model"],
                              [{"messages": [{"role": "system", "content": system}], "metadata": {}}], 5, 3)
    assert len(rows) == trained  # all from the cache: no model was needed
    assert all(r["messages"][0]["content"] == system and r["metadata"]["label"] == "replay" for r in rows)
    assert all(r["messages"][2]["content"].strip() and "### User:" not in r["messages"][2]["content"] for r in rows)
    lines.clear()
    train(ws, Settings(**tiny, replay=5), log=lines.append, progress=False)
    assert not any("general prompts" in line for line in lines)  # nothing generated again
