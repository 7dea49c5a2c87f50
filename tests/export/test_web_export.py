"""Browser export: the merged model as ONNX, checked in onnxruntime and in real headless Chromium."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from serving import StaticFolder, running

from personatune.errors import UserError

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "tests" / "artifacts"
TINY = dict(max_steps=2, batch_size=4, max_length=160, eval_every=0, save_every=0, warmup_steps=0, seed=7,
            learning_rate=5e-3, replay=0)


def quiet(_: str) -> None:
    pass


@pytest.fixture(scope="module")
def web_export(example_built):
    from personatune.export.web import export_web
    from personatune.train.runs import Settings, train

    ws, _ = example_built
    run_dir = train(ws, Settings(**TINY), log=quiet, progress=False)
    return ws, run_dir, export_web(ws, run_dir.name, dtypes=("fp32", "fp16"), log=quiet)




@pytest.mark.integration
def test_export_is_a_static_folder_verified_in_onnxruntime(web_export):
    import onnx

    ws, run_dir, result = web_export
    folder = ws.root / "export" / run_dir.name / "web"
    assert result.folder == folder and result.ok
    verify = json.loads((folder / "verify.json").read_text())
    fp32 = verify["files"]["fp32"]
    assert fp32["prompts"] == 8 and fp32["identical"] == 8  # 24 greedy tokens, token for token
    assert verify["files"]["fp16"]["agreement"] > 0
    page = json.loads((folder / "persona.json").read_text())
    assert page["name"] == "Marta Kowalczyk" and page["default_dtype"] in ("fp16", "fp32")
    assert {d["dtype"]: d["file"] for d in page["dtypes"]} == {"fp32": "model.onnx", "fp16": "model_fp16.onnx"}
    assert len(page["parity"]["prompts"]) == 8 and page["parity"]["prompts"][0]["reference"] == fp32["outputs"][0]
    assert page["system"]["plain"] and page["settings"]["max_new_tokens"] == 256
    model_dir = folder / "models" / "persona"
    for name in ("config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"):
        assert (model_dir / name).exists(), name
    assert "<|im_start|>" in json.loads((model_dir / "tokenizer_config.json").read_text())["chat_template"]
    for name in ("transformers.min.js", "ort-wasm-simd-threaded.asyncify.wasm", "LICENSE-transformers"):
        assert (folder / "vendor" / name).stat().st_size > 0, name
    graph = onnx.load(str(model_dir / "onnx" / "model.onnx"), load_external_data=False).graph
    inputs = [i.name for i in graph.input]
    assert inputs[:2] == ["input_ids", "attention_mask"] and inputs[2] == "past_key_values.0.key"
    assert [o.name for o in graph.output][:2] == ["logits", "present.0.key"]
    embeddings = [w for w in graph.initializer if 49152 in w.dims]
    assert len(embeddings) == 1  # the tied embedding is stored once
    half = (model_dir / "onnx" / "model_fp16.onnx").stat().st_size
    assert half < 0.6 * (model_dir / "onnx" / "model.onnx").stat().st_size
    assert not list(folder.parent.glob(".web.*"))  # written atomically: no leftovers
    assert "http.server" in result.summary()


@pytest.mark.integration
def test_page_streams_the_greedy_reply_in_chromium_and_works_offline(web_export, browser):
    from transformers import AutoTokenizer

    from personatune.data.rag import build_index

    ws, run_dir, result = web_export
    page_data = json.loads((result.folder / "persona.json").read_text())
    probe = page_data["parity"]["prompts"][0]
    tokenizer = AutoTokenizer.from_pretrained(result.folder / "models" / "persona")
    site = StaticFolder(result.folder)
    with running(site):
        page = browser.open(site.url + "?dtype=fp32&device=wasm", domains=("Page", "Runtime", "Log", "Network"))
        page.wait_for("window.personatune && (personatune.ready || personatune.error)", timeout=300)
        assert page.evaluate("personatune.error") is None, page.evaluate("personatune.error")
        assert page.evaluate("[personatune.dtype, personatune.device]") == ["fp32", "wasm"]
        download = page.evaluate("personatune.download")
        assert download["file"] == "model.onnx" and download["percent"] == 100
        assert download["total"] >= (result.folder / "models/persona/onnx/model.onnx").stat().st_size
        assert page.evaluate("personatune.offlineReady") is True

        # parity in the browser: same token ids in, the PyTorch model's greedy tokens out
        page.click("#verify")
        verify = page.wait_for("personatune.verify", timeout=300)
        assert verify["tokenizer_match"] is True
        assert verify["identical"] == len(page_data["parity"]["prompts"]) == 8, verify["prompts"]
        assert verify["tokensPerSecond"] > 0

        # retrieval in the page ranks the person's segments as the Python index's BM25 does
        index = build_index(ws, log=quiet)
        for question in [p["messages"][-1]["content"] for p in page_data["parity"]["prompts"]]:
            expected_ids = [hit["segment_id"] for hit in index.search(question, mode="bm25")]
            assert page.evaluate(f"personatune.retrieve({json.dumps(question)}).map(h => h.id)") == expected_ids

        # a person's turn: plain system prompt, greedy, 24 tokens; the streamed reply is the expected one
        page.click("#card")
        page.click("#rag")
        for field, value in (("temperature", 0), ("repetition_penalty", 1), ("max_new_tokens", 24)):
            page.evaluate(f"document.getElementById('{field}').value = '{value}'")
        page.evaluate("window.stalls = []; window.last = performance.now(); setInterval(() => { const now = "
                      "performance.now(); stalls.push(now - last); last = now; }, 20); 1")
        page.type("#message", probe["messages"][-1]["content"])
        page.press_enter()
        page.wait_for("personatune.lastReply !== null && !personatune.busy", timeout=120)
        assert page.evaluate("personatune.lastTokens") == probe["reference"]
        # the model runs in a worker: the page's own thread never stalls while it generates
        assert page.evaluate("Math.max(...stalls)") < 1000
        expected = tokenizer.decode(probe["reference"], skip_special_tokens=True)
        assert page.evaluate("personatune.lastReply") == expected
        assert page.evaluate("document.querySelector('.turn.assistant span').textContent") == expected
        assert page.evaluate("personatune.lastChunks") > 1  # streamed, not dropped in at the end
        meta = page.evaluate("document.querySelector('.turn.assistant .meta').textContent")
        assert "tok/s" in meta and "temperature 0" in meta
        # with retrieval on, the passages go into the prompt and their sources show under the reply
        page.click("#rag")
        page.evaluate("personatune.reset(); personatune.lastReply = null; 1")
        page.type("#message", "What was your first real tool?")
        page.press_enter()
        page.wait_for("personatune.lastReply !== null && !personatune.busy", timeout=180)
        hits = page.evaluate("personatune.lastPassages.map(h => h.id)")
        assert hits == [h["segment_id"] for h in index.search("What was your first real tool?", mode="bm25")]
        assert page.evaluate("document.querySelectorAll('.turn.assistant details.sources p').length") == len(hits)
        page.click(".turn.assistant details.sources summary")
        page.screenshot(ARTIFACTS / "web_export_chat.png")
        assert page.problems() == []
        # nothing but this folder was fetched: no CDN, no model hub
        urls = {e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"}
        assert urls and all(u.startswith(site.url) for u in urls), sorted(urls)
        assert any(path.startswith("/models/persona/onnx/model.onnx") for path in site.requests)

    # the server is gone: the service worker's cache serves page, runtime and model
    page.call("Page.reload", {"ignoreCache": False})
    page.wait_for("window.personatune && (personatune.ready || personatune.error)", timeout=300)
    assert page.evaluate("personatune.error") is None, page.evaluate("personatune.error")
    page.click("#card")
    page.click("#rag")
    for field, value in (("temperature", 0), ("repetition_penalty", 1), ("max_new_tokens", 24)):
        page.evaluate(f"document.getElementById('{field}').value = '{value}'")
    page.evaluate(f"personatune.send({json.dumps(probe['messages'][-1]['content'])})")
    page.wait_for("personatune.lastReply !== null && !personatune.busy", timeout=120)
    assert page.evaluate("personatune.lastTokens") == probe["reference"]
    # a conversation longer than the window: the oldest exchange is left out, the answer still comes
    window = len(probe["ids"]) + 40  # room for one exchange, not for two
    page.evaluate(f"personatune.persona.settings.context = {window}; personatune.lastReply = null; 1")
    page.evaluate("personatune.send('And after that?')")
    page.wait_for("personatune.lastReply !== null && !personatune.busy", timeout=120)
    assert page.evaluate("personatune.dropped") == 2 and page.evaluate("personatune.error") is None
    assert "earlier messages left out" in page.evaluate(
        "[...document.querySelectorAll('.turn.assistant .meta')].at(-1).textContent")
    page.screenshot(ARTIFACTS / "web_export_offline.png")


def test_export_never_replaces_a_folder_it_did_not_write(tmp_path):
    from personatune.export.web import _check_target

    mine = tmp_path / "site"
    mine.mkdir()
    (mine / "index.html").write_text("my own page")
    with pytest.raises(UserError, match="not a personatune browser export"):
        _check_target(mine)
    assert (mine / "index.html").read_text() == "my own page"
    (tmp_path / "empty").mkdir()
    _check_target(tmp_path / "empty")
    _check_target(tmp_path / "missing")
    ours = tmp_path / "ours"
    ours.mkdir()
    (ours / "persona.json").write_text(json.dumps({"generator": "personatune-web-export"}))
    _check_target(ours)


def test_a_tampered_runtime_tarball_is_refused(tmp_path, monkeypatch):
    from personatune.export import npm_vendor

    monkeypatch.setenv("PERSONATUNE_CACHE", str(tmp_path))
    package = npm_vendor.TRANSFORMERS_JS
    cached = tmp_path / "npm" / package.tarball.replace("/", "_")
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"not the real tarball")
    with pytest.raises(UserError, match="integrity check failed"):
        npm_vendor.fetch(package, log=quiet)


def test_unknown_or_missing_reference_dtype_is_one_clear_error(example_ws):
    from personatune.export.web import export_web

    with pytest.raises(UserError, match="must include fp32"):
        export_web(example_ws, dtypes=("fp16",), log=quiet)
    with pytest.raises(UserError, match="q3"):
        export_web(example_ws, dtypes=("fp32", "q3"), log=quiet)


@pytest.mark.integration
def test_gemma_decoder_graph_matches_pytorch_in_onnxruntime(tmp_path):
    """Gemma 3: q/k norms, sliding-window layers with their own rotary base, sandwich norms."""
    import torch

    from personatune.export.onnx_model import OnnxDecoder, export_onnx
    from personatune.registry import load_model
    from personatune.runtime.hf_engine import HFEngine

    model, tokenizer = load_model("gemma3-270m", dtype=torch.float32)
    hf = HFEngine(model, tokenizer, "gemma")
    prompts = [hf.prompt_ids([{"role": "user", "content": q}]) for q in ("Who are you?", "Name three tools.")]
    reference = [hf.greedy_ids(ids, 12) for ids in prompts]
    path = export_onnx(model, tmp_path / "model.onnx", log=quiet)
    decoder = OnnxDecoder(path, model.config, hf.eos_ids)
    assert [decoder.greedy_ids(ids, 12) for ids in prompts] == reference
    assert all(reference)


def test_an_unsupported_architecture_is_one_clear_error():
    from types import SimpleNamespace

    from personatune.export.onnx_model import decoder_module

    with pytest.raises(UserError, match="'gpt2'"):
        decoder_module(SimpleNamespace(config=SimpleNamespace(model_type="gpt2")))
