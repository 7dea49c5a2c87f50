"""Does an exported GGUF behave like the model it came from? Greedy decoding from identical token ids.

The Hugging Face model (fp32) and each GGUF in llama.cpp decode the same probe prompts greedily for
PARITY_TOKENS tokens. The prompt is tokenized once (by the HF tokenizer) and given to both, so a
weight or layout error cannot hide behind a tokenizer difference; whether llama.cpp tokenizes the
rendered prompt the same way is checked separately.

f16 rounds every weight, so where the fp32 model's two best next tokens are within a hair of each other
the two can fairly pick different ones. A divergence counts as such a near tie only when the fp32
model itself scores both tokens within TIE_MARGIN (logits) where they part; llama.cpp then resumes
from the reference's token, so every one of the reference's tokens is checked. A weight or layout
error parts at a clear margin and fails the check.
"""

from __future__ import annotations

from pathlib import Path

from personatune.workspace import Workspace

PARITY_TOKENS = 24
PARITY_PROMPTS = 8
TIE_MARGIN = 0.1  # fp32 logit gap under which the two best tokens are a coin toss for f16 weights
FALLBACK_QUESTIONS = ("Who are you?", "What do you do for a living?", "What do you believe most strongly about "
                      "your work?", "Explain what a hash table is in two sentences.")


def parity_prompts(ws: Workspace, limit: int = PARITY_PROMPTS) -> list[list[dict]]:
    from personatune.data.pairs import load_probes
    from personatune.persona.prompting import Persona

    questions: list[str] = []
    probes = ws.path_setting("probes")
    if probes is not None and probes.exists():
        data = load_probes(probes)
        questions = [p["question"] for p in (data.get("identity") or []) + (data.get("opinions") or [])]
    questions = (questions or list(FALLBACK_QUESTIONS))[:limit]
    system = Persona.plain_system_for(ws)
    return [[{"role": "system", "content": system}, {"role": "user", "content": q}] for q in questions]


def _prefix(a: list[int], b: list[int]) -> int:
    n = 0
    for x, y in zip(a, b):
        if x != y:
            break
        n += 1
    return n


def compare(reference: list[list[int]], outputs: list[list[int]]) -> dict:
    identical = sum(out == ref for out, ref in zip(outputs, reference))
    agreement = sum(_prefix(out, ref) / max(len(ref), 1) for out, ref in zip(outputs, reference)) / len(reference)
    return {"prompts": len(reference), "identical": identical, "agreement": round(agreement, 4)}


def divergences(hf, ids: list[list[int]], reference: list[list[int]], outputs: list[list[int]],
                resume=None, tokens: int = PARITY_TOKENS) -> list[dict]:
    """Where each output parts from the reference, and the fp32 logit gap there.

    Without `resume` only the first part of each prompt is found. With it (a function giving llama.cpp's
    greedy ids for a prompt and a token budget), decoding resumes after a near tie from the reference's
    own token, so every reference token is checked, not just those before the first tie; a part at a
    clear margin fails the check and ends that prompt's search."""
    import torch

    found = []
    for n, (prompt, ref, out) in enumerate(zip(ids, reference, outputs)):
        start = 0
        while out != ref[start:]:
            at = start + _prefix(out, ref[start:])
            ours = ref[at] if at < len(ref) else hf.eos_ids[0]  # a shorter output stopped at the end of turn
            theirs = out[at - start] if at - start < len(out) else hf.eos_ids[0]
            with hf.lock, torch.inference_mode():
                logits = hf.model(torch.tensor([prompt + ref[:at]])).logits[0, -1].float()
            margin = float(logits[ours] - logits[theirs])
            found.append({"prompt": n, "at": at, "margin": round(margin, 4), "near_tie": margin <= TIE_MARGIN})
            if resume is None or margin > TIE_MARGIN or at >= len(ref):
                break
            start = at + 1
            out = resume(prompt + ref[:start], tokens - start) if tokens > start else []
    return found


def verify_export(ws: Workspace, merged: Path, files: dict[str, Path], tokens: int = PARITY_TOKENS,
                  log=print) -> dict:
    import torch

    from personatune.export.gguf_io import FLOAT_TYPES
    from personatune.registry import load_model
    from personatune.runtime.gguf_engine import GGUFEngine
    from personatune.runtime.hf_engine import HFEngine

    model, tokenizer = load_model(str(merged), dtype=torch.float32)
    hf = HFEngine(model, tokenizer, "merged")
    prompts = parity_prompts(ws)
    ids = [hf.prompt_ids(m) for m in prompts]
    log(f"verifying in llama.cpp: {len(prompts)} probe prompts, {tokens} greedy tokens each")
    reference = [hf.greedy_ids(i, tokens) for i in ids]
    report: dict = {"tokens": tokens, "prompts": [m[-1]["content"] for m in prompts],
                    "reference": reference, "files": {}}
    checks = [(kind, path, None) for kind, path in files.items() if kind not in ("base", "adapter")]
    if "base" in files and "adapter" in files:
        checks.append(("adapter", files["base"], files["adapter"]))
    for kind, path, lora in checks:
        engine = GGUFEngine(path, context=1024, lora=lora)
        if kind == "f16":
            report["tokenizer_match"] = all(engine.prompt_ids(m) == i for m, i in zip(prompts, ids))
        outputs = [engine.greedy_ids(i, tokens) for i in ids]
        check = {**compare(reference, outputs), "file": path.name, "outputs": outputs}
        if lora:
            check["lora"] = lora.name
        # f16 must match token for token but for near ties; quantized and adapter files report their agreement.
        if kind in FLOAT_TYPES:
            check["divergences"] = divergences(hf, ids, reference, outputs, engine.greedy_ids, tokens)
            check["near_ties"] = sum(d["near_tie"] for d in check["divergences"])
            check["checked"] = sum(len(ref) for ref in reference)
            check["ok"] = all(d["near_tie"] for d in check["divergences"])
        else:
            check["ok"] = check["agreement"] > 0
        report["files"][kind] = check
        ties = f" ({check['near_ties']} near-tie tokens of {check['checked']})" if check.get("near_ties") else ""
        log(f"  {path.name}{' + ' + lora.name if lora else ''}: {check['identical']}/{check['prompts']} identical"
            f"{ties}, agreement {check['agreement']:.2f}")
        del engine
    return report
