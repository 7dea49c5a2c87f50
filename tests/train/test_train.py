"""LoRA training on the real embedded model, kept to a few optimizer steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from personatune import artifacts
from personatune.errors import UserError
from personatune.train.runs import Settings, train

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
TINY = dict(max_steps=3, batch_size=4, max_length=192, eval_every=0, save_every=0, warmup_steps=0, seed=7,
            replay=0)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def model_and_tokenizer():
    from personatune.registry import load_model

    return load_model("smollm2-135m-instruct")


def test_a_row_without_its_stop_ends_where_the_answer_ends(model_and_tokenizer):
    from personatune.train.batches import encode

    _, tokenizer = model_and_tokenizer
    messages = [{"role": "user", "content": "Where were you born?"},
                {"role": "assistant", "content": "I was born in Gdańsk, in Poland."}]
    whole, prompt_len = encode(tokenizer, messages)
    open_end, open_prompt = encode(tokenizer, messages, stop=False)
    assert open_prompt == prompt_len and whole[:len(open_end)] == open_end  # the same tokens, cut before the stop
    assert tokenizer.decode(open_end[prompt_len:]) == "I was born in Gdańsk, in Poland."
    assert tokenizer.decode(whole[len(open_end):]).startswith("<|im_end|>")


def test_prompt_tokens_carry_no_loss_with_the_real_chat_template(model_and_tokenizer):
    from personatune.train.batches import collate, encode

    _, tokenizer = model_and_tokenizer
    messages = [{"role": "user", "content": "Where did you grow up?"},
                {"role": "assistant", "content": "In Duluth, Minnesota, after we left Gdansk."}]
    ids, prompt_len = encode(tokenizer, messages)
    assert tokenizer.decode(ids) == tokenizer.apply_chat_template(messages, tokenize=False)
    prompt_text = tokenizer.decode(ids[:prompt_len])
    assert prompt_text.endswith("<|im_start|>assistant\n") and "Where did you grow up?" in prompt_text
    answer_text = tokenizer.decode(ids[prompt_len:])
    assert answer_text.startswith("In Duluth") and answer_text.rstrip().endswith("<|im_end|>")
    from personatune.train.batches import Example

    batch = collate([Example(ids, prompt_len, 0)], tokenizer.pad_token_id or 0)
    assert batch["targets"].tolist() == ids[prompt_len:]
    assert min(batch["cols"].tolist()) == prompt_len - 1  # no position inside the prompt predicts a label


def test_a_few_steps_lower_the_loss_on_a_fixed_batch(model_and_tokenizer, example_built):
    from peft import LoraConfig, get_peft_model

    from personatune.train.batches import collate, encode
    from personatune.train.loss import labelled_cross_entropy

    model, tokenizer = model_and_tokenizer
    ws, _ = example_built
    rows = artifacts.read_jsonl(ws.stage_dir("dataset") / "messages" / "train.jsonl")[:4]
    from personatune.train.batches import Example

    examples = [Example(*encode(tokenizer, r["messages"]), i) for i, r in enumerate(rows)]
    batch = collate(examples, tokenizer.pad_token_id or 0)
    torch.manual_seed(0)
    peft_model = get_peft_model(model, LoraConfig(r=8, lora_alpha=16, target_modules="all-linear", lora_dropout=0.0))
    try:
        base = peft_model.get_base_model()
        opt = torch.optim.AdamW([p for p in peft_model.parameters() if p.requires_grad], lr=1e-3)

        def loss_now():
            hidden = base.model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
            picked = hidden[batch["rows"], batch["cols"]]
            return labelled_cross_entropy(picked, base.lm_head.weight, batch["targets"], scale=1 / len(batch["targets"]))

        first = float(loss_now())
        for _ in range(4):
            loss = loss_now()
            loss.backward()
            opt.step()
            opt.zero_grad()
        assert float(loss_now()) < first - 0.1
    finally:
        peft_model.unload()


def test_train_writes_a_run_that_reloads_and_merges_exactly(example_built, tmp_path):
    from peft import PeftModel

    from personatune.registry import load_model
    from personatune.train.merge import merge
    from personatune.train.runs import list_runs

    ws, _ = example_built
    run_dir = train(ws, Settings(**TINY, learning_rate=5e-3), log=quiet, progress=False)
    record = artifacts.read_json(run_dir / "run.json")
    assert record["status"] == "finished" and record["steps"] == 3 and record["tokens_per_s"] > 0
    assert record["base_model"] == "smollm2-135m-instruct" and record["dataset_hash"]
    assert record["versions"]["torch"] and record["settings"]["r"] == 16
    assert len(artifacts.read_jsonl(run_dir / "metrics.jsonl")) == 3
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()
    assert any(r["run_id"] == run_dir.name for r in list_runs(ws))

    base, tokenizer = load_model("smollm2-135m-instruct")
    ids = tokenizer("Tell me about your grandfather's boats.", return_tensors="pt")
    with torch.inference_mode():
        base_logits = base(**ids).logits
    tuned = PeftModel.from_pretrained(base, str(run_dir / "adapter"))
    lora_b = [p for n, p in tuned.named_parameters() if "lora_B" in n]
    assert max(float(p.abs().max()) for p in lora_b) > 0  # the adapter moved away from its zero init
    with torch.inference_mode():
        tuned_logits = tuned(**ids).logits
    assert (tuned_logits - base_logits).abs().max() > 1e-3  # so merging it proves something
    again = PeftModel.from_pretrained(load_model("smollm2-135m-instruct")[0], str(run_dir / "adapter"))
    with torch.inference_mode():
        assert torch.equal(again(**ids).logits, tuned_logits)  # a saved adapter reloads to identical logits

    merged_dir = merge(ws, run_dir.name, log=quiet)
    from transformers import AutoModelForCausalLM, AutoTokenizer

    merged = AutoModelForCausalLM.from_pretrained(merged_dir)
    with torch.inference_mode():
        merged_logits = merged(**ids).logits
    # Merged weights compute W' x with W' = W + s*B*A; the adapter computes W x + s*B*(A x). In float32 the
    # two differ by rounding, which grows with the logits' size (1.0e-4 at logits of ~17 on one CI run);
    # a wrong merge (scale, transpose, a module left out) differs by a share of the adapter's own effect.
    error = float((merged_logits - tuned_logits).abs().max())
    scale, effect = float(tuned_logits.abs().max()), float((tuned_logits - base_logits).abs().max())
    assert error < 2e-5 * scale, (error, scale)
    assert error < 0.05 * effect, (error, effect)
    assert torch.equal(merged_logits.argmax(-1), tuned_logits.argmax(-1))
    assert AutoTokenizer.from_pretrained(merged_dir).chat_template


def test_interrupt_and_resume_give_the_same_adapter(example_built, monkeypatch):
    from safetensors.torch import load_file

    import personatune.train.runs as train_module

    ws, _ = example_built
    settings = Settings(**{**TINY, "max_steps": 4, "dropout": 0.1})
    straight = train(ws, settings, log=quiet, progress=False)

    def interrupt_at_two(settings, run_dir):
        def reporter(row):
            if row["step"] == 2:
                os.kill(os.getpid(), signal.SIGINT)
        return [reporter]

    monkeypatch.setattr(train_module, "make_reporters", interrupt_at_two)
    with pytest.raises(UserError, match="interrupted at step 2"):
        train(ws, settings, log=quiet, progress=False)
    interrupted = train_module.find_run(ws, None)
    assert artifacts.read_json(interrupted / "run.json")["status"] == "interrupted"
    monkeypatch.setattr(train_module, "make_reporters", lambda settings, run_dir: [])
    resumed = train(ws, settings, resume=interrupted.name, log=quiet, progress=False)
    assert resumed == interrupted
    a = load_file(str(straight / "adapter" / "adapter_model.safetensors"))
    b = load_file(str(resumed / "adapter" / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    assert max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5


def test_rows_longer_than_max_length_are_counted(example_built):
    ws, _ = example_built
    run_dir = train(ws, Settings(**{**TINY, "max_steps": 1, "max_length": 120, "overflow": "drop"}), log=quiet,
                    progress=False)
    examples = artifacts.read_json(run_dir / "run.json")["examples"]
    assert examples["dropped"] > 0 and examples["kept"] + examples["dropped"] == examples["rows"]
    run_dir = train(ws, Settings(**{**TINY, "max_steps": 1, "max_length": 120}), log=quiet, progress=False)
    assert artifacts.read_json(run_dir / "run.json")["examples"]["truncated"] > 0


def test_missing_or_empty_dataset_is_one_clear_error(tmp_path, example_built):
    from personatune.workspace import Workspace, init_workspace

    init_workspace(tmp_path / "ws", [str(ROOT / "examples" / "creator" / "blog")])
    with pytest.raises(UserError, match="no built dataset"):
        train(Workspace.open(tmp_path / "ws"), Settings(**TINY), log=quiet, progress=False)


def test_full_disk_while_checkpointing_keeps_the_last_good_checkpoint(example_built, monkeypatch):
    import personatune.train.loop as loop

    ws, _ = example_built
    real_save = torch.save
    calls = {"n": 0}

    def flaky_save(obj, path, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(28, "No space left on device")
        return real_save(obj, path, *args, **kwargs)

    monkeypatch.setattr(loop.torch, "save", flaky_save)
    with pytest.raises(UserError, match=r"No space left on device.*last good checkpoint is .*step-000001"):
        train(ws, Settings(**{**TINY, "save_every": 1}), log=quiet, progress=False)
    from personatune.train.runs import find_run

    run_dir = find_run(ws, None)
    good = run_dir / "checkpoints" / "step-000001"
    assert (good / "trainable.safetensors").exists() and (good / "optimizer.pt").exists()
    assert not (run_dir / "checkpoints" / "step-000002").exists()
    assert not [p for p in (run_dir / "checkpoints").iterdir() if p.name.startswith(".")]


def test_two_processes_under_torchrun_see_disjoint_data(example_built, tmp_path):
    ws, _ = example_built
    env = {**os.environ, "PERSONATUNE_THREADS": "2", "OMP_NUM_THREADS": "1"}
    cmd = [str(Path(sys.executable).parent / "torchrun"), "--standalone", "--nproc_per_node", "2",
           "-m", "personatune.cli", "train", str(ws.root), "--max-steps", "2", "--batch-size", "2",
           "--max-length", "160", "--eval-every", "0", "--save-every", "0", "--no-progress",
           "--replay", "2"]  # the first process makes the replay rows and sends them to the second
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    from personatune.train.runs import find_run

    run_dir = find_run(ws, None)
    ranks = [json.loads((run_dir / "ranks" / f"rank-{k}.json").read_text()) for k in (0, 1)]
    a, b = set(ranks[0]["examples"]), set(ranks[1]["examples"])
    assert a and b and not a & b
    record = artifacts.read_json(run_dir / "run.json")
    assert record["device"]["processes"] == 2 and record["status"] == "finished"
    kept = run_dir / "replay.jsonl"  # absent only where neither answer ended within MAX_NEW_TOKENS
    assert record["replay_rows"] == (len(artifacts.read_jsonl(kept)) if kept.exists() else 0) <= 2
    assert (run_dir / "adapter" / "adapter_model.safetensors").exists()


def test_pretrained_base_without_a_chat_template_trains_and_merges(example_built):
    from transformers import AutoTokenizer

    from personatune.train.batches import DEFAULT_CHAT_TEMPLATE
    from personatune.train.merge import merge

    ws, _ = example_built
    run_dir = train(ws, Settings(**{**TINY, "max_steps": 1, "batch_size": 2, "max_length": 128,
                                    "base_model": "gemma3-270m"}), log=quiet, progress=False)
    record = artifacts.read_json(run_dir / "run.json")
    assert record["base_model"] == "gemma3-270m" and record["chat_template"] == "default (added)"
    assert record["status"] == "finished" and record["final_loss"] > 0
    merged = merge(ws, run_dir.name, log=quiet)
    tokenizer = AutoTokenizer.from_pretrained(merged)
    assert tokenizer.chat_template == DEFAULT_CHAT_TEMPLATE
    text = tokenizer.apply_chat_template([{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True)
    assert text == "<bos>### User:\nHi\n\n### Assistant:\n"
