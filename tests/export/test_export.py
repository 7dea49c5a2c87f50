"""GGUF export verified in real llama.cpp, and Ollama TEMPLATEs checked with Go's own text/template."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from personatune.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
GO_RENDERER = ROOT / "tools" / "ollama_template" / "main.go"
TINY = dict(max_steps=2, batch_size=4, max_length=160, eval_every=0, save_every=0, warmup_steps=0, seed=7,
            learning_rate=5e-3, replay=0)
CONVERSATION = [
    {"role": "user", "content": "Where did you grow up?"},
    {"role": "assistant", "content": "Duluth, mostly. We moved when I was fourteen."},
    {"role": "user", "content": "And what's your take on pocket holes?\nBe honest."},
]


def quiet(_: str) -> None:
    pass


def go_render(template: str, messages: list[dict], system: str = "") -> str:
    """Render like Ollama does: Go text/template, SYSTEM prepended as a system message."""
    done = subprocess.run(["go", "run", str(GO_RENDERER)], input=json.dumps(
        {"template": template, "system": system, "messages": messages}), capture_output=True, text=True,
        timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def hf_render(tokenizer, messages: list[dict]) -> str:
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


def modelfile_parts(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return {"template": re.search(r'^TEMPLATE """(.*?)"""$', text, re.S | re.M).group(1),
            "system": re.search(r'^SYSTEM """(.*?)"""$', text, re.S | re.M).group(1),
            "stops": [json.loads(s) for s in re.findall(r"^PARAMETER stop (.+)$", text, re.M)],
            "params": dict(re.findall(r"^PARAMETER (\w+) (\S+)$", text, re.M)),
            "from": re.search(r"^FROM (.+)$", text, re.M).group(1), "text": text}


def test_chatml_template_matches_the_tokenizer_with_and_without_a_system_turn():
    from personatune.export.modelfile import ollama_template
    from personatune.registry import load_tokenizer

    tokenizer = load_tokenizer("smollm2-135m-instruct")
    template = ollama_template(tokenizer.chat_template, tokenizer.eos_token)
    system = "You are Marta. {{ not a template }} \"quoted\""
    assert go_render(template.template, CONVERSATION, system) == hf_render(
        tokenizer, [{"role": "system", "content": system}, *CONVERSATION])
    # Without a system turn SmolLM2's template injects its own; the TEMPLATE must do the same.
    assert go_render(template.template, CONVERSATION) == hf_render(tokenizer, CONVERSATION)
    assert "<|im_end|>" in template.stops


def test_default_template_matches_the_tokenizer_less_the_bos_ollama_adds():
    from personatune.export.modelfile import ollama_template
    from personatune.runtime.chat_template import render_chat
    from personatune.train.batches import DEFAULT_CHAT_TEMPLATE

    template = ollama_template(DEFAULT_CHAT_TEMPLATE, "<eos>")
    messages = [{"role": "system", "content": "You are Marta."}, *CONVERSATION]
    expected = render_chat(DEFAULT_CHAT_TEMPLATE, messages, bos_token="<bos>", eos_token="<eos>")
    assert "<bos>" + go_render(template.template, CONVERSATION, "You are Marta.") == expected


def test_unknown_template_family_gets_no_template():
    from personatune.export.modelfile import ollama_template

    assert ollama_template("{% for m in messages %}[INST]{{ m['content'] }}{% endfor %}", "</s>") is None


def test_chat_template_renderer_matches_transformers():
    from personatune.registry import load_tokenizer
    from personatune.runtime.chat_template import render_chat

    tokenizer = load_tokenizer("smollm2-135m-instruct")
    assert render_chat(tokenizer.chat_template, CONVERSATION) == hf_render(tokenizer, CONVERSATION)


@pytest.fixture(scope="module")
def llama_export(example_built):
    from personatune.export.gguf_export import export
    from personatune.train.runs import Settings, train

    ws, _ = example_built
    run_dir = train(ws, Settings(**TINY), log=quiet, progress=False)
    result = export(ws, run_dir.name, ["f16", "q8_0", "q4_0"], log=quiet)
    return ws, run_dir, result


@pytest.mark.integration
def test_llama_export_is_verified_in_llama_cpp(llama_export):
    import gguf

    ws, run_dir, result = llama_export
    assert result.folder == ws.root / "export" / run_dir.name
    assert set(result.files) == {"f16", "q8_0", "q4_0", "base", "adapter"}
    verify = json.loads((result.folder / "verify.json").read_text())
    f16 = verify["files"]["f16"]
    # token for token, 24 tokens, every probe prompt; f16 rounding may only flip a near tie of the fp32 model,
    # after which llama.cpp resumes from the reference's token: every reference token is checked
    assert f16["prompts"] == 8 and f16["checked"] == sum(len(ref) for ref in verify["reference"])
    assert all(d["margin"] <= 0.1 for d in f16["divergences"]) and f16["ok"]
    assert f16["near_ties"] <= f16["checked"] // 20 and f16["identical"] + f16["near_ties"] >= 8
    assert all(len(out) > 0 for out in f16["outputs"])
    assert verify["tokenizer_match"] is True
    adapter = verify["files"]["adapter"]  # base f16 + LoRA applied at run time by llama.cpp
    assert adapter["lora"] == "adapter-f16.gguf" and adapter["agreement"] >= 0.75
    for kind in ("q8_0", "q4_0"):
        assert 0 < verify["files"][kind]["agreement"] <= 1
    assert result.ok and "parity" in result.summary()
    assert not list(result.folder.glob(".*.tmp"))  # written atomically: no leftovers

    reader = gguf.GGUFReader(str(result.files["f16"]))
    fields = reader.fields
    assert fields["general.architecture"].contents() == "llama"
    assert "<|im_start|>" in fields["tokenizer.chat_template"].contents()
    assert fields["tokenizer.ggml.eos_token_id"].contents() == 2
    assert fields["personatune.run_id"].contents() == run_dir.name
    q8 = gguf.GGUFReader(str(result.files["q8_0"]))
    assert any(t.tensor_type == gguf.GGMLQuantizationType.Q8_0 for t in q8.tensors)
    assert result.files["q4_0"].stat().st_size < result.files["q8_0"].stat().st_size < result.files["f16"].stat().st_size
    lora = gguf.GGUFReader(str(result.files["adapter"]))
    assert lora.fields["general.type"].contents() == "adapter"
    assert any(t.name.endswith(".lora_a") for t in lora.tensors)


@pytest.mark.integration
def test_modelfile_template_renders_like_the_tokenizer(llama_export):
    from transformers import AutoTokenizer

    ws, run_dir, result = llama_export
    parts = modelfile_parts(result.folder / "Modelfile")
    assert parts["from"] == "./persona-q8_0.gguf"
    assert parts["system"].startswith(f"You are {ws.name}.")  # the persona card
    assert "<|im_end|>" in parts["stops"]
    assert {"temperature", "top_p", "repeat_penalty", "num_predict", "num_ctx"} <= set(parts["params"])
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "merged")
    three_turns = [{"role": "system", "content": parts["system"]}, *CONVERSATION]
    assert go_render(parts["template"], CONVERSATION, parts["system"]) == hf_render(tokenizer, three_turns)
    adapter = (result.folder / "Modelfile.adapter").read_text()
    assert "FROM ./base-f16.gguf" in adapter and "ADAPTER ./adapter-f16.gguf" in adapter


@pytest.mark.integration
def test_gguf_engine_chats_with_the_exported_file(llama_export):
    from personatune.persona.prompting import Persona, Toggles
    from personatune.runtime.engines import open_engine
    from personatune.runtime.generation import Settings

    ws, run_dir, _ = llama_export
    engine = open_engine(ws, "gguf:q8_0", run=run_dir.name, log=quiet)
    settings = Settings(temperature=0.0, max_new_tokens=12, min_new_tokens=4)
    prompt = Persona(ws, log=quiet).prompt([{"role": "user", "content": "Where were you born?"}],
                                           Toggles(card=True, rag=True), engine, settings)
    assert "Passages from your own material" in prompt.messages[0]["content"] and prompt.passages
    text = "".join(engine.stream(prompt.messages, settings))
    assert text.strip() and 4 <= engine.last.completion_tokens <= 12
    assert engine.complete(prompt.messages, settings) == text  # greedy is deterministic


@pytest.mark.integration
def test_gguf_batch_evaluates_the_shared_card_once_and_answers_as_each_prompt_alone(llama_export):
    """Eval's retrieval variants send many prompts that open with the same card: llama.cpp evaluates that opening
    once and keeps it; each prompt evaluates only its own rest, and answers what it answers on its own."""
    from personatune.runtime.engines import open_engine
    from personatune.runtime.generation import Settings

    ws, run_dir, _ = llama_export
    engine = open_engine(ws, "gguf:q8_0", run=run_dir.name, log=quiet)
    card = (ws.root / "persona_card.md").read_text(encoding="utf-8")
    conversations = [[{"role": "system", "content": card}, {"role": "user", "content": q}]
                     for q in ("Where were you born?", "What is a dado?", "How do you glue a panel?")]
    settings = Settings(temperature=0.0, max_new_tokens=12)
    alone = [(engine.complete(c, settings), engine.last.completion_tokens) for c in conversations]
    evaluated = []
    original = engine.llm.eval
    engine.llm.eval = lambda tokens: (evaluated.append(len(tokens)), original(tokens))[1]
    try:
        batch = engine.generate_batch(conversations, settings)
    finally:
        engine.llm.eval = original
    assert batch == alone
    prompts = [engine.prompt_ids(c) for c in conversations]
    opening = next(k for k in range(len(prompts[0])) if len({p[k] for p in prompts}) > 1)
    assert opening >= 64 and evaluated.count(opening) == 1  # the card once, not once per prompt
    assert sum(evaluated) < sum(len(p) for p in prompts) + 3 * 12 - opening  # less than every prompt whole
    assert engine.generate_batch(conversations[::-1], settings)[::-1] == batch  # the order changes nothing


@pytest.mark.integration
def test_gemma_export_is_verified_and_its_template_translates(example_built):
    from transformers import AutoTokenizer

    from personatune.export.gguf_export import export
    from personatune.train.runs import Settings, train

    ws, _ = example_built
    run_dir = train(ws, Settings(**{**TINY, "max_steps": 1, "batch_size": 2, "max_length": 128,
                                    "base_model": "gemma3-270m"}), log=quiet, progress=False)
    result = export(ws, run_dir.name, ["f16"], adapter=False, log=quiet)
    check = result.verify["files"]["f16"]
    assert check["prompts"] == 8 and check["ok"] and check["near_ties"] <= check["checked"] // 20
    assert result.verify["tokenizer_match"] is True
    parts = modelfile_parts(result.folder / "Modelfile")
    assert parts["from"] == "./persona-f16.gguf" and "<eos>" in parts["stops"]
    tokenizer = AutoTokenizer.from_pretrained(run_dir / "merged")
    three_turns = [{"role": "system", "content": parts["system"]}, *CONVERSATION]
    # gemma's GGUF says add_bos_token, so Ollama adds <bos> itself; the TEMPLATE must not.
    assert tokenizer.bos_token + go_render(parts["template"], CONVERSATION, parts["system"]) == hf_render(
        tokenizer, three_turns)


def test_unknown_quant_type_is_one_clear_error(example_built):
    from personatune.export.gguf_export import export

    ws, _ = example_built
    with pytest.raises(UserError, match="unknown GGUF type"):
        export(ws, None, ["q9_9"], log=quiet)


def test_export_without_a_run_says_how_to_make_one(example_ws):
    from personatune.cli import main

    assert main(["export", str(example_ws.root)]) == 2


class _Scores:
    """A stand-in for the fp32 model: fixed next-token logits, whatever the prefix."""

    def __init__(self, logits):
        import threading

        import torch

        self.logits, self.lock, self.eos_ids = torch.tensor(logits), threading.Lock(), [0]
        self.model = self

    def __call__(self, ids):
        from types import SimpleNamespace

        return SimpleNamespace(logits=self.logits.expand(1, ids.shape[1], -1))


def test_a_divergence_counts_as_a_near_tie_only_when_the_fp32_model_scores_both_tokens_alike():
    from personatune.export.verify import divergences

    reference, outputs = [[1, 2, 3], [1, 2, 3], [1, 2]], [[1, 2, 3], [1, 3, 3], [1, 2, 4]]
    tie = divergences(_Scores([5.0, 0.0, 9.0, 8.95, 4.97]), [[7], [7], [7]], reference, outputs)
    assert [(d["prompt"], d["at"], d["near_tie"]) for d in tie] == [(1, 1, True), (2, 2, True)]  # 2 vs 3; eos vs 4
    clear = divergences(_Scores([5.0, 0.0, 9.0, 4.0, 0.0]), [[7], [7], [7]], reference, outputs)
    assert [d["near_tie"] for d in clear] == [False, False] and clear[0]["margin"] == 5.0


def test_after_a_near_tie_decoding_resumes_from_the_reference_so_every_token_is_checked():
    from personatune.export.verify import divergences

    reference, outputs = [[3, 2, 3, 2, 3]], [[3, 3, 3, 3, 3]]  # parts at 1; resumed, parts again at 3
    asked = []

    def resume(prompt, budget):  # llama.cpp after the reference's token: picks 3 wherever 2 was due
        asked.append((prompt, budget))
        return [3] * budget

    tie = divergences(_Scores([5.0, 0.0, 9.0, 8.95]), [[7]], reference, outputs, resume, tokens=5)
    assert [(d["at"], d["near_tie"]) for d in tie] == [(1, True), (3, True)]
    assert asked == [([7, 3, 2], 3), ([7, 3, 2, 3, 2], 1)]
    clear = divergences(_Scores([5.0, 0.0, 9.0, 4.0]), [[7]], reference, outputs, resume, tokens=5)
    assert [(d["at"], d["near_tie"]) for d in clear] == [(1, False)]  # a clear part ends the search


@pytest.mark.integration
def test_verification_fails_on_a_corrupted_gguf(llama_export, tmp_path):
    """A real mismatch (one attention matrix scaled) parts at a clear margin: not a near tie, not ok."""
    import shutil

    import gguf
    import numpy as np

    from personatune.export.verify import verify_export

    ws, run_dir, result = llama_export
    broken = tmp_path / "broken-f16.gguf"
    shutil.copy(result.files["f16"], broken)
    tensor = next(t for t in gguf.GGUFReader(str(broken)).tensors if t.name == "blk.0.attn_q.weight")
    weights = np.memmap(broken, dtype=np.float16, mode="r+", offset=int(tensor.data_offset),
                        shape=(int(tensor.n_elements),))
    weights[:] = weights * np.float16(-3.0)
    weights.flush()
    del weights
    report = verify_export(ws, run_dir / "merged", {"f16": broken}, log=lambda _: None)
    check = report["files"]["f16"]
    assert not check["ok"] and check["identical"] < 8
    assert any(not d["near_tie"] and d["margin"] > 0.1 for d in check["divergences"])
