"""The whole eval on the example persona with a tiny trained adapter (real models, few tokens)."""

from __future__ import annotations

import json
import shutil

import pytest

from personatune.errors import UserError

pytestmark = pytest.mark.integration


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def evaluated(example_built):
    from personatune.eval.evaluate import Settings, evaluate
    from personatune.train.runs import Settings as TrainSettings
    from personatune.train.runs import train

    ws, _ = example_built
    run_dir = train(ws, TrainSettings(max_steps=2, batch_size=4, max_length=160, eval_every=0, save_every=0,
                                      warmup_steps=0, seed=7, learning_rate=5e-3, replay=0), log=quiet,
                    progress=False)
    settings = Settings(variants=["base", "rag", "tuned"], model="adapter", max_new_tokens=12, general=10,
                        neutral=10, transfer=2, verbatim=4, verbatim_tokens=24, batch_size=16)
    folder = evaluate(ws, run_dir.name, settings, log=quiet)
    return ws, run_dir, folder


def test_eval_writes_every_metric_per_variant(evaluated):
    ws, run_dir, folder = evaluated
    result = json.loads((folder / "eval.json").read_text())
    assert result["run_id"] == run_dir.name and result["variants"] == ["base", "rag", "tuned"]
    for variant in ("base", "tuned"):
        m = result["metrics"][variant]
        for key in ("identity_recall", "invented_rate", "opinion_alignment", "general_accuracy", "bleed_rate",
                    "transfer_voice", "copied_8gram_share", "exact_continuation_rate", "persona_nll",
                    "instruction_nll", "length_median_ratio"):
            assert m.get(key) is not None, (variant, key)
        assert 0 <= m["identity_recall"] <= 1 and 0 <= m["bleed_rate"] <= 1 and m["persona_nll"] > 0
    assert "general_accuracy" not in result["metrics"]["rag"]  # task sets go to base and tuned only
    assert {f["flag"] for f in result["flags"]} >= {"bleed", "verbatim", "task_collapse"}
    assert all(set(f) >= {"fired", "value", "threshold", "advice"} for f in result["flags"])
    assert result["definitions"]["bleed_rate"]
    # the run people keep trained on every persona segment; eval knows which facts it saw
    record = json.loads((run_dir / "run.json").read_text())
    build_report = json.loads((ws.stage_dir("build") / "report.json").read_text())
    assert record["training_split"] == "deploy"
    assert len(record["persona_segments_trained"]) == build_report["deploy"]["persona_segments"] \
        == build_report["deploy"]["of_persona_segments"]
    assert result["probe_segments"] and set(result["probes_trained"]) == set(result["probe_segments"])
    assert result["metrics"]["tuned"]["identity_recall_trained"] is not None
    assert "identity_recall_unseen" not in result["metrics"]["tuned"]


def test_a_probe_asked_word_for_word_in_training_is_left_out_of_identity_recall(evaluated, tmp_path):
    from personatune.eval.evaluate import Settings as EvalSettings
    from personatune.eval.evaluate import build_items, training_questions
    from personatune.eval.metrics.text import normalise
    from personatune.eval.score import score_all

    ws, run_dir, folder = evaluated
    messages = tmp_path / "messages"
    messages.mkdir()
    (messages / "deploy.jsonl").write_text(json.dumps({"messages": [
        {"role": "system", "content": "You are X."}, {"role": "user", "content": "Where were you BORN?"},
        {"role": "assistant", "content": "In Gdansk."}]}) + "\n")
    asked = training_questions({"dataset": str(messages), "training_split": "deploy"})
    assert asked == {normalise("where were you born")}
    assert training_questions({"dataset": str(tmp_path / "gone"), "training_split": "deploy"}) == set()

    train = [json.loads(line) for line in (ws.stage_dir("build") / "train.jsonl").read_text().splitlines()]
    heldout = [json.loads(line) for line in (ws.stage_dir("build") / "heldout.jsonl").read_text().splitlines()]
    first = json.loads((folder / "eval.json").read_text())
    items = build_items(ws, EvalSettings(**first["settings"]), train, heldout)
    answers = [json.loads(line) for line in (folder / "answers.jsonl").read_text().splitlines()]
    result = score_all(ws, items, answers, train, {}, ["tuned"], log=quiet, trained_questions=asked)
    born = next(i.id for i in items["identity"] if i.question == "Where were you born?")
    assert result["probes_asked_in_training"] == [born]
    kept = [d["fact_recall"] for i, d in result["per_item"]["tuned"]["identity"].items() if i != born]
    assert result["metrics"]["tuned"]["identity_recall"] == pytest.approx(sum(kept) / len(kept), abs=1e-3)


def test_eval_keeps_every_answer_with_its_passages(evaluated):
    ws, _, folder = evaluated
    rows = [json.loads(line) for line in (folder / "answers.jsonl").read_text().splitlines()]
    probes = 20 + 11  # the example's identity and opinion probes
    assert len(rows) == 3 * probes + 2 * (10 + 10 + 2 + 4)
    rag = [r for r in rows if r["variant"] == "rag"]
    assert rag and all(r["passages"] and "@" in r["passages"][0]["where"] for r in rag)
    assert all(not r["passages"] for r in rows if r["variant"] == "tuned")
    assert sum(1 for r in rows if r["answer"]) > len(rows) * 0.8


def test_report_has_plots_and_examples(evaluated):
    _, _, folder = evaluated
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 3
    # the birthplace probe, as asked: in its rephrasing where the run trained on "Where were you born?"
    rows = [json.loads(line) for line in (folder / "answers.jsonl").read_text().splitlines()]
    asked = next(r["prompt"] for r in rows if r["prompt_id"] == "identity-01")
    assert asked in ("Where were you born?", "Which city were you born in?")
    assert "Overfitting signs" in page and asked in page and "the person's answer" in page


def test_a_second_eval_generates_only_what_changed(evaluated):
    from personatune.eval.evaluate import Settings, evaluate
    from personatune.train.runs import Settings as TrainSettings
    from personatune.train.runs import train

    ws, run_dir, folder = evaluated
    first = json.loads((folder / "eval.json").read_text())
    settings = Settings(**first["settings"])
    again = evaluate(ws, run_dir.name, settings, log=quiet)
    record = json.loads((again / "eval.json").read_text())
    assert record["answer_cache"]["answers"]["computed"] == record["answer_cache"]["likelihoods"]["computed"] == 0
    assert (again / "answers.jsonl").read_text() == (folder / "answers.jsonl").read_text()
    assert record["metrics"] == first["metrics"]

    changed = {**first["settings"], "repetition_penalty": 1.05, "variants": ["base"]}
    counts = json.loads((evaluate(ws, run_dir.name, Settings(**changed), log=quiet) / "eval.json").read_text())
    assert counts["answer_cache"]["by_variant"] == {"base": {"reused": 0, "generated": 31 + 10 + 10 + 2 + 4}}

    retrained = train(ws, TrainSettings(max_steps=1, batch_size=4, max_length=160, eval_every=0, save_every=0,
                                        warmup_steps=0, seed=8, learning_rate=5e-3, replay=0), log=quiet,
                      progress=False)
    try:
        after = evaluate(ws, retrained.name, settings, log=quiet)
        counts = json.loads((after / "eval.json").read_text())["answer_cache"]["by_variant"]
    finally:  # later tests share the workspace and its latest run
        shutil.rmtree(retrained)
    assert counts["base"]["generated"] == 0 and counts["rag"]["generated"] == 0 and counts["base"]["reused"] > 0
    assert counts["tuned"]["reused"] == 0 and counts["tuned"]["generated"] > 0  # new weights: a miss


def test_quick_eval_asks_the_documented_subset(evaluated, capsys):
    from personatune.eval.evaluate import QUICK, Settings, evaluate

    ws, run_dir, folder = evaluated
    lines: list[str] = []
    quick = evaluate(ws, run_dir.name, Settings(variants=["tuned"], model="adapter", max_new_tokens=12,
                                                quick=True, batch_size=16), log=lines.append)
    rows = [json.loads(line) for line in (quick / "answers.jsonl").read_text().splitlines()]
    per_set = {name: sum(1 for r in rows if r["set"] == name) for name in QUICK}
    assert per_set == QUICK  # the example has more of each than the quick subset asks
    table = "\n".join(lines)
    assert "metric (95% interval)" in table and "identity_recall" in table and "[" in table
    assert "quick subset" in table


def test_unknown_variant_is_one_clear_error(example_built):
    from personatune.cli import main

    ws, _ = example_built
    assert main(["eval", str(ws.root), "--variants", "base,best"]) == 2
    with pytest.raises(UserError, match="unknown variant"):
        from personatune.eval.evaluate import Settings

        Settings(variants=["best"])


def test_verbatim_items_ask_each_training_question_once(example_built):
    """Segments that share a plain question ("Can you tell me a bit about your background?") are one item, not
    the same greedy answer counted several times in copying and length drift."""
    from collections import Counter

    from personatune.eval.evaluate import Settings as EvalSettings
    from personatune.eval.evaluate import build_items

    ws, _ = example_built
    train = [json.loads(line) for line in (ws.stage_dir("build") / "train.jsonl").read_text().splitlines()]
    heldout = [json.loads(line) for line in (ws.stage_dir("build") / "heldout.jsonl").read_text().splitlines()]
    first = {}
    for row in train:
        if row["label"] == "persona" and row["kind"] == "segment":
            first.setdefault(row["segment_id"], row["question"])
    assert max(Counter(first.values()).values()) > 1  # the example has segments that share their first question
    questions = [i.question for i in build_items(ws, EvalSettings(verbatim=100), train, heldout)["verbatim"]]
    assert len(questions) == len(set(first.values())) and len(set(questions)) == len(questions)
