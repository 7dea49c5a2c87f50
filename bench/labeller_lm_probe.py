"""Would the base model's hidden states make a better persona classifier? Leave-one-person-out F1 on the corpus.

    python bench/labeller_lm_probe.py [--mirrors DIR] [--cache FILE]

Each passage of the hand-labelled corpus (bench/data/labels/, rebuilt as bench/labeller.py rebuilds it)
goes through SmolLM2-135M (fp32, its first 192 tokens); the mean hidden state of chosen layers is a
feature block. A logistic regression (the label stage's own `label_model.fit`) is trained on every
person but one and tested on that one, for each person in turn, on: the shipped shape features alone,
hidden states alone, both, and both with context (the mean of the neighbouring passages' features
and of the whole document's). Reports overall F1 at the best threshold, the worst person, and the
embedding speed. Results: bench/results/labeller_lm_probe.json. About 15 minutes on 2 cores, most of
it the forward passes (cached in --cache for reruns).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import labeller  # noqa: E402

MAX_TOKENS = 192
LAYERS = (4, 8, 16, 30)
SPECS = ("shape", "l8", "l16", "l30", "shape+l8", "shape+l16", "shape+l8@context")
L2 = (300.0, 1000.0, 3000.0)


def hidden_states(texts: list[str], batch: int = 16) -> tuple[dict[str, np.ndarray], float]:
    """Mean hidden state of each layer in LAYERS per text, and tokens per second."""
    import torch

    from personatune.registry import load_model

    model, tokenizer = load_model("smollm2-135m-instruct", dtype=torch.float32)
    model.eval()
    encoded = [tokenizer(t, add_special_tokens=False)["input_ids"][:MAX_TOKENS] for t in texts]
    order = np.argsort([len(e) for e in encoded])
    out = {f"l{layer}": np.zeros((len(texts), model.config.hidden_size), np.float32) for layer in LAYERS}
    started, tokens = time.time(), 0
    with torch.inference_mode():
        for start in range(0, len(order), batch):
            rows = order[start:start + batch]
            width = max(len(encoded[j]) for j in rows)
            ids = torch.full((len(rows), width), tokenizer.pad_token_id or 0)
            mask = torch.zeros((len(rows), width), dtype=torch.long)
            for r, j in enumerate(rows):
                ids[r, :len(encoded[j])] = torch.tensor(encoded[j])
                mask[r, :len(encoded[j])] = 1
            states = model(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
            weight = mask.unsqueeze(-1).float()
            for layer in LAYERS:
                out[f"l{layer}"][rows] = ((states[layer] * weight).sum(1) / weight.sum(1)).numpy()
            tokens += int(mask.sum())
            print(f"\r  {start + len(rows)}/{len(texts)} passages, {tokens / (time.time() - started):.0f} tokens/s",
                  end="", flush=True)
    print()
    return out, tokens / (time.time() - started)


def with_context(x: np.ndarray, docs: np.ndarray) -> np.ndarray:
    """x, the mean of each passage's two neighbours in its document, and the document's mean."""
    around, whole = np.zeros_like(x), np.zeros_like(x)
    for doc in np.unique(docs):
        idx = np.where(docs == doc)[0]
        whole[idx] = x[idx].mean(axis=0)
        around[idx] = (x[np.r_[idx[0], idx[:-1]]] + x[np.r_[idx[1:], idx[-1]]]) / 2
    return np.hstack([x, around, whole])


def f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    return labeller.scores(list(truth), list(predicted))["f1"]


def leave_one_out(x: np.ndarray, y: np.ndarray, who: np.ndarray, l2: float) -> dict:
    from personatune.data import label_model

    pooled = np.zeros(len(y))
    for name in np.unique(who):
        held = who == name
        pooled[held] = label_model.fit(x[~held], y[~held], l2).predict(x[held])
    truth, best = y > 0, None
    for threshold in np.arange(0.3, 0.9, 0.05):
        predicted = pooled >= threshold
        people = {name: round(f1(truth[who == name], predicted[who == name]), 3) for name in np.unique(who)}
        row = {"threshold": round(float(threshold), 2), "f1": round(f1(truth, predicted), 3),
               "worst": min(people.values()), "per_person": people}
        if best is None or row["f1"] > best["f1"]:
            best = row
    return best


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    labeller.add_mirrors_argument(parser)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/personatune-lm-probe.npz"))
    args = parser.parse_args()
    people = labeller.whole_corpus(args.mirrors, "measure")
    if people is None:
        return 1
    shape, y, _, who = labeller.corpus(people)
    docs = np.array([f"{name}|{row['source']}" for name in people for row in people[name]])
    if args.cache.exists():
        cached = np.load(args.cache)
        states, speed = {k: cached[k] for k in cached.files if k != "speed"}, float(cached["speed"])
    else:
        texts = [" ".join(row["text"].split()) for name in people for row in people[name]]
        states, speed = hidden_states(texts)
        np.savez(args.cache, speed=speed, **states)
    blocks = {"shape": shape, **states}
    report = {"passages": len(y), "people": len(people), "max_tokens": MAX_TOKENS,
              "tokens_per_second_full_model": round(speed), "results": {}}
    for spec in SPECS:
        name, _, context = spec.partition("@")
        x = np.hstack([blocks[part] for part in name.split("+")])
        if context:
            x = with_context(x, docs)
        results = [dict(leave_one_out(x, y, who, l2), l2=l2) for l2 in L2]
        report["results"][spec] = max(results, key=lambda r: r["f1"])
        best = report["results"][spec]
        print(f"{spec:20} F1 {best['f1']:.3f} at threshold {best['threshold']}, worst person {best['worst']:.2f} "
              f"(l2 {best['l2']:.0f})", flush=True)
    (HERE / "results").mkdir(exist_ok=True)
    (HERE / "results" / "labeller_lm_probe.json").write_text(json.dumps(report, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
