"""Training glue on tiny tensors: the labelled-positions loss, batching, masks."""

from __future__ import annotations

import pytest
import torch

from personatune.train.batches import Example, collate, length_grouped_batches
from personatune.train.loop import LoopConfig, schedule_factor
from personatune.train.loss import labelled_cross_entropy


@pytest.mark.parametrize("softcap", [None, 3.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_labelled_cross_entropy_matches_full_logits(softcap, weighted):
    """Also with row weights: each labelled token's loss and gradient times its row's weight."""
    torch.manual_seed(0)
    hidden = torch.randn(37, 16, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(50, 16, dtype=torch.float64)
    targets = torch.randint(0, 50, (37,))
    weights = torch.tensor([1.0] * 17 + [4.0] * 20) if weighted else None
    ours = labelled_cross_entropy(hidden, weight, targets, scale=1 / 37, softcap=softcap, chunk_rows=8,
                                  row_weights=weights)
    ours.backward()
    grad_ours = hidden.grad.clone()
    hidden.grad = None
    logits = hidden @ weight.t()
    if softcap:
        logits = softcap * torch.tanh(logits / softcap)
    losses = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    reference = (losses if weights is None else losses * weights).sum() / 37
    reference.backward()
    assert torch.allclose(ours, reference, atol=1e-10)
    assert torch.allclose(grad_ours, hidden.grad, atol=1e-10)


def test_labelled_cross_entropy_refuses_a_trainable_head():
    with pytest.raises(ValueError, match="frozen"):
        labelled_cross_entropy(torch.randn(2, 4), torch.randn(5, 4, requires_grad=True), torch.tensor([1, 2]))


def test_fact_pair_rows_carry_the_fact_weight_into_the_batch():
    from personatune.train.batches import encode_rows

    class Chars:  # a tokenizer stand-in: one id per character, a two-line chat template
        bos_token = None

        def apply_chat_template(self, messages, tokenize=False, add_generation_prompt=False):
            return "".join(f"{m['role']}:{m['content']}\n" for m in messages) + ("assistant:" if add_generation_prompt else "")

        def __call__(self, text, add_special_tokens=False):
            return {"input_ids": [ord(c) for c in text]}

    def row(answer, parent=None):
        return {"messages": [{"role": "user", "content": "Where?"}, {"role": "assistant", "content": answer}],
                "metadata": {"segment_id": "s~fact0" if parent else "s", **({"parent": parent} if parent else {})}}

    examples, _ = encode_rows(Chars(), [row("Gdansk."), row("In Gdansk.", parent="s")], 512, "truncate", "x", 3.0)
    assert [e.weight for e in examples] == [1.0, 3.0]
    batch = collate(examples, pad_id=0)
    assert batch["weights"].tolist() == [1.0] * examples[0].label_count + [3.0] * examples[1].label_count
    assert collate([examples[0]], pad_id=0)["weights"] is None  # no weights: the unweighted path
    # fact_stop=False: the fact row does not learn the end of its turn, the segment row still does
    open_end, _ = encode_rows(Chars(), [row("Gdansk."), row("In Gdansk.", parent="s")], 512, "truncate", "x",
                              fact_stop=False)
    assert open_end[0].ids == examples[0].ids
    assert "".join(map(chr, open_end[1].ids)).endswith("assistant:In Gdansk.")
    assert examples[1].ids[:len(open_end[1].ids)] == open_end[1].ids and examples[1].length == open_end[1].length + 1


def test_collate_marks_only_answer_positions():
    ex = [Example(ids=[1, 2, 3, 4, 5, 6], prompt_len=4, index=0), Example(ids=[7, 8, 9], prompt_len=1, index=1)]
    batch = collate(ex, pad_id=0)
    assert batch["input_ids"].tolist() == [[1, 2, 3, 4, 5, 6], [7, 8, 9, 0, 0, 0]]
    # row 0: positions 3,4 predict tokens 5,6; row 1: positions 0,1 predict 8,9
    assert list(zip(batch["rows"].tolist(), batch["cols"].tolist(), batch["targets"].tolist())) == [
        (0, 3, 5), (0, 4, 6), (1, 0, 8), (1, 1, 9)]
    assert batch["tokens"] == 9 and batch["padding"] == 3
    assert collate([ex[0]], pad_id=0)["attention_mask"] is None  # no padding, no mask: the fast causal path


def test_length_grouped_batches_cover_everything_once_with_little_padding():
    import random

    rng = random.Random(0)
    examples = [Example(ids=[1] * rng.randint(40, 260), prompt_len=10, index=i) for i in range(1000)]
    batches = length_grouped_batches(examples, batch_size=8, seed=3, epoch=0)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert batches == length_grouped_batches(examples, batch_size=8, seed=3, epoch=0)
    assert batches != length_grouped_batches(examples, batch_size=8, seed=3, epoch=1)
    real = sum(examples[i].length for b in batches for i in b)
    padded = sum(max(examples[i].length for i in b) * len(b) for b in batches)
    assert padded / real < 1.03  # random batches of 8 would pad ~40% here


def test_schedule_warms_up_then_decays():
    cfg = LoopConfig(learning_rate=1.0, warmup_steps=4, schedule="cosine", total_steps=20, batch_size=1, grad_accum=1,
                     seed=0, eval_every=0, save_every=0, early_stopping_patience=0, keep_checkpoints=1)
    factors = [schedule_factor(s, cfg) for s in range(20)]
    assert factors[:4] == [0.25, 0.5, 0.75, 1.0]
    assert all(a >= b for a, b in zip(factors[4:], factors[5:])) and factors[-1] < 0.05


def _run(root, name, status, pid, checkpoint=False):
    import socket

    from personatune import artifacts

    folder = root / "runs" / name
    folder.mkdir(parents=True)
    artifacts.write_json(folder / "run.json", {"run_id": name, "status": status, "pid": pid,
                                               "host": socket.gethostname()})
    if checkpoint:
        (folder / "checkpoints" / "step-000010").mkdir(parents=True)
    return folder


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_a_run_killed_before_its_first_checkpoint_does_not_block_the_workspace(example_ws):
    from personatune.train.runs import find_run, list_runs

    dead = _dead_pid()
    finished = _run(example_ws.root, "20261129-100000-aaaa", "finished", dead)
    _run(example_ws.root, "20261129-110000-bbbb", "running", dead)  # kill -9 before step one was saved
    assert find_run(example_ws, None) == finished  # merge / chat / eval use the last usable run
    statuses = {r["run_id"]: r["status"] for r in list_runs(example_ws)}
    assert statuses["20261129-110000-bbbb"] == "killed before its first checkpoint"
    resumable = _run(example_ws.root, "20261129-120000-cccc", "running", dead, checkpoint=True)
    assert find_run(example_ws, None) == resumable  # killed after a checkpoint: --resume continues it
    assert {r["run_id"]: r["status"] for r in list_runs(example_ws)}["20261129-120000-cccc"] == "killed"
    live = _run(example_ws.root, "20261129-130000-dddd", "running", __import__("os").getpid())
    assert {r["run_id"]: r["status"] for r in list_runs(example_ws)}[live.name] == "running"


def test_only_killed_runs_is_one_clear_line(example_ws):
    from personatune.errors import UserError
    from personatune.train.runs import find_run

    _run(example_ws.root, "20261129-110000-bbbb", "running", _dead_pid())
    with pytest.raises(UserError, match="killed before the first checkpoint; start a new one"):
        find_run(example_ws, None)


def test_resuming_drops_the_steps_logged_after_the_checkpoint(tmp_path):
    import json

    from personatune.train.runs import forget_steps_after

    metrics = tmp_path / "metrics.jsonl"
    metrics.write_text("".join(json.dumps({"step": n, "loss": 1.0 / n}) + "\n" for n in range(1, 8)) + '{"step": 8, "lo')
    forget_steps_after(metrics, 5)
    assert [json.loads(line)["step"] for line in metrics.read_text().splitlines()] == [1, 2, 3, 4, 5]


def test_resuming_a_finished_run_says_there_is_nothing_to_resume(example_built):
    from personatune import artifacts
    from personatune.errors import UserError
    from personatune.train.runs import Settings, runs_root, train

    ws, _ = example_built
    record = artifacts.read_json(ws.stage_dir("dataset") / "record.json")
    folder = runs_root(ws) / "20261129-090000-ffff"
    folder.mkdir(parents=True)
    artifacts.write_json(folder / "run.json", {"run_id": folder.name, "status": "finished", "steps": 12,
                                               "settings": {}, "base_model": "smollm2-135m-instruct",
                                               "dataset_hash": record["output_hash"]})
    try:
        with pytest.raises(UserError, match="already finished \\(12 steps\\); nothing to resume"):
            train(ws, Settings(), resume=folder.name, log=lambda _: None)
    finally:
        import shutil

        shutil.rmtree(folder)


def test_a_run_knows_when_the_built_dataset_changed_since_it_trained(example_built):
    from personatune import artifacts
    from personatune.train.runs import dataset_changed

    ws, _ = example_built
    built = artifacts.read_json(ws.stage_dir("dataset") / "record.json")["output_hash"]
    assert not dataset_changed(ws, {"dataset_hash": built, "settings": {}})
    assert dataset_changed(ws, {"dataset_hash": "0" * 16, "settings": {"persona_held_out": True}})
    assert not dataset_changed(ws, {})  # a run that recorded no dataset cannot be compared


def test_validation_is_a_seeded_sample_that_keeps_label_shares():
    from personatune.train.batches import validation_sample

    rows = [{"metadata": {"label": "persona" if i % 20 == 0 else "instructional"}, "i": i} for i in range(500)]
    sample = validation_sample(rows, 128, seed=0)
    labels = [r["metadata"]["label"] for r in sample]
    assert 120 <= len(sample) <= 136 and labels.count("persona") == round(128 * 25 / 500)
    assert [r["i"] for r in sample] == sorted(r["i"] for r in sample)  # the file's order
    assert sample == validation_sample(rows, 128, seed=0) != validation_sample(rows, 128, seed=1)
    assert validation_sample(rows, 0, seed=0) == rows and validation_sample(rows[:50], 128, seed=0) == rows[:50]
    rare = rows[:1] + [{"metadata": {"label": "instructional"}, "i": n} for n in range(1000, 1999)]
    assert any(r["metadata"]["label"] == "persona" for r in validation_sample(rare, 64, seed=0))  # never lost
