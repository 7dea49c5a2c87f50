"""export --web: the merged model as a static folder that chats in the browser, no server, no install.

    <out>/index.html                      the chat page (streams answers computed in the browser)
    <out>/worker.js                       the model, tokenizer and generation, off the page's thread
    <out>/sw.js                           service worker: every file cached once loaded, so it works offline
    <out>/persona.json                    name, persona card, generation settings, model files, parity probes
    <out>/passages.json                   the person's own segments with provenance, for retrieval in the page
    <out>/vendor/                         transformers.js + onnxruntime-web (JS and WASM), from the npm registry
    <out>/models/persona/onnx/model.onnx             fp32: the parity reference
    <out>/models/persona/onnx/model_fp16.onnx        fp16 weights, fp32 compute: half the download (page default)
    <out>/models/persona/onnx/model_quantized.onnx   q8: 8-bit block-quantized weights (on request)
    <out>/models/persona/onnx/model_q4.onnx          q4: 4-bit block-quantized weights (on request)
    <out>/models/persona/{config,generation_config,tokenizer,tokenizer_config}.json
    <out>/verify.json                     greedy parity of every file against the merged PyTorch model

Parity is checked here with onnxruntime (the fp32 file must give the identical first 24 greedy
tokens on every probe prompt, or the export fails) and again in the browser by the page's
"check parity" button, which decodes the same token ids with the same runtime the visitor uses.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from personatune import artifacts
from personatune.errors import UserError
from personatune.workspace import Workspace

# dtype (transformers.js's name) -> file name transformers.js looks for
DTYPE_FILES = {"fp32": "model.onnx", "fp16": "model_fp16.onnx", "q8": "model_quantized.onnx",
               "q4": "model_q4.onnx"}
DEFAULT_DTYPES = ("fp32", "fp16")
# The page loads the smallest file whose greedy tokens agree with the PyTorch model at least this much
# (measured here, before publishing); 8-bit weights agree far less on a 135M model (see docs/export.md, Parity).
AGREEMENT_FLOOR = 0.9
MARKER = "personatune-web-export"


@dataclass
class WebExport:
    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    verify: dict = field(default_factory=dict)
    default_dtype: str = "fp32"

    @property
    def ok(self) -> bool:
        return all(check["ok"] for check in self.verify.get("files", {}).values())

    def summary(self) -> str:
        lines = [f"browser export in {self.folder}"]
        for dtype, path in self.files.items():
            line = f"  {dtype:5} {path.name:24} {path.stat().st_size / 2**20:8.1f} MiB"
            check = self.verify.get("files", {}).get(dtype)
            if check:
                line += (f"   parity: {check['identical']}/{check['prompts']} identical, agreement "
                         f"{check['agreement']:.2f}" + ("" if check["ok"] else "   FAILED"))
            lines.append(line + ("   (page default)" if dtype == self.default_dtype else ""))
        total = sum(p.stat().st_size for p in self.folder.rglob("*") if p.is_file())
        lines.append(f"  folder: {total / 2**20:.0f} MiB in all; a visitor downloads the runtime and one model file")
        lines.append(f"  try it: python -m http.server -d {self.folder} 8000   then open http://127.0.0.1:8000/")
        return "\n".join(lines)


def _resource(name: str) -> bytes:
    return resources.files("personatune.export").joinpath("page", name).read_bytes()


def _check_target(out: Path) -> None:
    """Never replace a folder personatune did not write."""
    if not out.exists():
        return
    marker = out / "persona.json"
    try:
        ours = marker.exists() and json.loads(marker.read_text(encoding="utf-8")).get("generator") == MARKER
    except (OSError, ValueError):
        ours = False
    if not ours and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"{out} exists and is not a personatune browser export; choose another --out "
                        "(nothing was written)")


def _tokenizer_files(merged: Path, folder: Path, tokenizer, eos_ids: list[int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy2(merged / "tokenizer.json", folder / "tokenizer.json")
    config = json.loads((merged / "tokenizer_config.json").read_text(encoding="utf-8"))
    # transformers.js reads the template from tokenizer_config.json; newer transformers keep it beside
    config["chat_template"] = tokenizer.chat_template
    artifacts.write_json(folder / "tokenizer_config.json", config)
    shutil.copy2(merged / "config.json", folder / "config.json")
    generation = {"bos_token_id": tokenizer.bos_token_id, "eos_token_id": eos_ids,
                  "pad_token_id": tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos_ids[0]}
    artifacts.write_json(folder / "generation_config.json", generation)


def _quantize(source: Path, dtype: str, path: Path, log=print) -> Path:
    """8- or 4-bit weights in blocks of 32 (MatMulNBits), activations left in fp32: the weight-only
    scheme keeps greedy agreement far higher than onnxruntime's dynamic int8 (which also rounds
    every activation to 8 bits) at the same size."""
    import onnx
    from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer

    bits = {"q8": 8, "q4": 4}[dtype]
    log(f"quantizing to {dtype} ({bits}-bit weights, blocks of 32)")
    quantizer = MatMulNBitsQuantizer(onnx.load(str(source)), bits=bits, block_size=32, is_symmetric=True,
                                     accuracy_level=4)
    quantizer.process()
    quantizer.model.save_model_to_file(str(path), False)
    return path


def _quiet_quantizer_logs() -> None:
    import logging

    for name in ("onnxruntime.quantization.matmul_nbits_quantizer", "onnxruntime.quantization"):
        logging.getLogger(name).setLevel(logging.WARNING)


def _onnx_files(model, onnx_dir: Path, dtypes, log=print) -> dict[str, Path]:
    from personatune.export.onnx_model import export_onnx, half_weights

    started = time.monotonic()
    files = {"fp32": export_onnx(model, onnx_dir / DTYPE_FILES["fp32"], log=log)}
    log(f"  model.onnx written in {time.monotonic() - started:.0f} s")
    for dtype in dtypes:
        if dtype == "fp16":
            files[dtype] = half_weights(files["fp32"], onnx_dir / DTYPE_FILES[dtype], log=log)
        elif dtype != "fp32":
            files[dtype] = _quantize(files["fp32"], dtype, onnx_dir / DTYPE_FILES[dtype], log=log)
    return files


def _parity(files: dict[str, Path], config, ids: list[list[int]], reference: list[list[int]], eos_ids: list[int],
            log=print) -> dict:
    """Each file decodes the probe ids greedily in onnxruntime: fp32 must match token for token."""
    from personatune.export.onnx_model import OnnxDecoder
    from personatune.export.verify import PARITY_TOKENS, compare

    checks = {}
    for dtype, path in files.items():
        decoder = OnnxDecoder(path, config, eos_ids)
        started = time.monotonic()
        outputs = [decoder.greedy_ids(i, PARITY_TOKENS) for i in ids]
        seconds = time.monotonic() - started
        check = {**compare(reference, outputs), "file": path.name, "outputs": outputs,
                 "tokens_per_second": round(sum(map(len, outputs)) / max(seconds, 1e-9), 1)}
        check["ok"] = check["identical"] == check["prompts"] if dtype == "fp32" else check["agreement"] > 0
        checks[dtype] = check
        log(f"  {path.name}: {check['identical']}/{check['prompts']} identical, agreement "
            f"{check['agreement']:.2f} (onnxruntime, {check['tokens_per_second']} tok/s)")
    return checks


def _passages(ws: Workspace, path: Path, log=print) -> dict | None:
    """The person's own segments for retrieval in the page (BM25 there; see index.html)."""
    from personatune.data.rag import RAG_HEADER, build_index, where
    from personatune.data.rag import Settings as RagSettings
    from personatune.data.retrieval import STOPWORDS
    from personatune.settings import resolve

    settings = resolve(RagSettings, ws.section("rag"))
    try:
        index = build_index(ws, settings, log=log)
    except UserError:
        log("no labelled segments: the page gets no retrieval (run the dataset stages first)")
        return None
    artifacts.write_json(path, {"header": RAG_HEADER, "top_k": settings.top_k, "k1": settings.k1, "b": settings.b,
                                "stopwords": sorted(STOPWORDS),
                                "segments": [{"id": s["segment_id"], "where": where(s), "text": s["text"]}
                                             for s in index.segments]})
    return {"file": path.name, "segments": len(index.segments), "retriever": "bm25", "top_k": settings.top_k}


def _default_dtype(files: dict[str, Path], checks: dict) -> str:
    """The smallest file that agrees with the PyTorch model (unchecked: the fp16 or fp32 file)."""
    for dtype in sorted(files, key=lambda d: files[d].stat().st_size):
        if (checks[dtype]["agreement"] >= AGREEMENT_FLOOR) if checks else dtype in ("fp16", "fp32"):
            return dtype
    return "fp32"


def export_web(ws: Workspace, run_id: str | None = None, out: Path | None = None, dtypes=DEFAULT_DTYPES,
               verify: bool = True, settings=None, log=print) -> WebExport:
    import torch

    from personatune.export import npm_vendor
    from personatune.export.onnx_model import describe, max_positions
    from personatune.export.verify import PARITY_TOKENS, parity_prompts
    from personatune.persona.prompting import Persona
    from personatune.registry import load_model
    from personatune.runtime.engines import export_dir
    from personatune.runtime.generation import Settings
    from personatune.runtime.hf_engine import HFEngine
    from personatune.train.merge import merge
    from personatune.train.runs import find_run

    unknown = [d for d in dtypes if d not in DTYPE_FILES]
    if unknown or "fp32" not in dtypes:
        raise UserError(f"browser dtypes must include fp32 (the parity reference) and come from "
                        f"{', '.join(DTYPE_FILES)}; got {', '.join(dtypes)}")
    run_dir = find_run(ws, run_id)
    record = artifacts.read_json(run_dir / "run.json")
    out = Path(out) if out else export_dir(ws, run_dir) / "web"
    _check_target(out)
    merged = run_dir / "merged"
    if not (merged / "config.json").exists():
        merged = merge(ws, run_dir.name, log=log)
    settings = settings or Settings()
    _quiet_quantizer_logs()

    model, tokenizer = load_model(str(merged), dtype=torch.float32)
    config = model.config
    log(f"model: {describe(config)}")
    hf = HFEngine(model, tokenizer, "merged")
    persona = Persona(ws, log=lambda _: None)
    probes = parity_prompts(ws)
    ids = [hf.prompt_ids(m) for m in probes]
    log(f"reference: {len(probes)} probe prompts, {PARITY_TOKENS} greedy tokens each from the merged model")
    reference = [hf.greedy_ids(i, PARITY_TOKENS) for i in ids]
    eos_ids = list(hf.eos_ids)
    result = WebExport(out)
    with artifacts.atomic_dir(out) as tmp:
        # the runtime first: a missing network fails in seconds, not after the export
        log("vendoring the browser runtime (npm registry, cached after the first export)")
        npm_vendor.vendor(tmp / "vendor", log=log)
        model_dir = tmp / "models" / "persona"
        files = _onnx_files(model, model_dir / "onnx", dtypes, log=log)
        del hf, model
        _tokenizer_files(merged, model_dir, tokenizer, eos_ids)
        checks = _parity(files, config, ids, reference, eos_ids, log=log) if verify else {}
        result.default_dtype = _default_dtype(files, checks)
        rag = _passages(ws, tmp / "passages.json", log=log)
        page = {
            "generator": MARKER, "name": ws.name, "run": run_dir.name, "base_model": record["base_model"],
            "export": {"id": f"{run_dir.name}-{int(time.time())}", "created": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
            "system": {"card": persona.card, "plain": persona.plain_system},
            "settings": {"temperature": settings.temperature, "top_p": settings.top_p,
                         "repetition_penalty": settings.repetition_penalty,
                         "max_new_tokens": settings.max_new_tokens,
                         "context": min(settings.context, max_positions(config))},
            "eos_token_ids": eos_ids,
            "rag": rag,
            "dtypes": [{"dtype": d, "file": p.name, "bytes": p.stat().st_size,
                        "agreement": checks.get(d, {}).get("agreement")} for d, p in files.items()],
            "default_dtype": result.default_dtype,
            "parity": {"tokens": PARITY_TOKENS,
                       "prompts": [{"messages": m, "ids": i, "reference": r}
                                   for m, i, r in zip(probes, ids, reference)]},
            "footer": f"{ws.name} · made with personatune from run {run_dir.name}",
        }
        artifacts.write_json(tmp / "persona.json", page)
        (tmp / "index.html").write_bytes(_resource("index.html"))
        for name in ("sw.js", "worker.js"):
            (tmp / name).write_bytes(_resource(name))
        if persona.card:
            artifacts.write_text(tmp / "persona_card.md", persona.card + "\n")
        result.verify = {"tokens": PARITY_TOKENS, "prompts": [m[-1]["content"] for m in probes],
                         "reference": reference, "files": checks}
        artifacts.write_json(tmp / "verify.json", result.verify)
        if verify and not checks["fp32"]["ok"]:
            log("fp32 parity FAILED: the folder is kept for inspection, but do not publish it")
    result.files = {d: out / "models" / "persona" / "onnx" / p.name for d, p in files.items()}
    return result
