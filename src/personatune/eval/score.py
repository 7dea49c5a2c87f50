"""Scores for an eval's answers: every metric per variant, its interval, the per-item details the
report shows, the overfitting flags. The metric definitions themselves live in eval/metrics/."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from personatune import artifacts
from personatune.eval.metrics import overfitting
from personatune.eval.metrics.bleed import bleeds, persona_entities, persona_terms, term_echo
from personatune.eval.metrics.identity import contradicts, fact_recall, invented_biography
from personatune.eval.metrics.intervals import bootstrap_ci
from personatune.eval.metrics.length import length_drift
from personatune.eval.metrics.text import normalise, source_vocab, words
from personatune.eval.metrics.verbatim import NgramIndex, exact_continuation
from personatune.workspace import Workspace

DEFINITIONS = {
    "identity_recall": "mean share of each identity probe's expected facts the answer states (normalised match), over "
                       "the probes whose question the tuned run was never trained on (a probe asked word for word in "
                       "training is left out and listed in probes_asked_in_training)",
    "identity_recall_trained": "identity recall over the probes whose source segment the tuned run trained on",
    "identity_recall_unseen": "identity recall over the probes whose source segment the tuned run never saw (only "
                              "retrieval can know these)",
    "invented_rate": "share of identity/opinion answers with a year, number, name or degree found nowhere in the sources",
    "contradiction_rate": "share of identity answers that state a different year/number/name than an expected fact",
    "opinion_alignment": "mean cosine (MiniLM) between the answer and the person's own answer to the opinion probe",
    "general_accuracy": "share of built-in general instructions whose answer passes its check",
    "general_similarity": "mean cosine between general-instruction answers and the reference answers",
    "bleed_rate": "share of neutral prompts whose answer brings up the persona (persona terms, biography "
                  "phrases, the person's own names, places, years and probe facts, or cosine >= 0.6 to a "
                  "persona segment)",
    "transfer_voice": "mean cosine between task-transfer answers and the centroid of the person's own segments",
    "copied_8gram_share": "mean share of an answer's word 8-grams found in a training answer (verbatim set)",
    "longest_copied_run": "mean longest run of words shared with any training answer (verbatim set)",
    "exact_continuation_rate": "share of verbatim probes whose first 16 words equal the training answer's",
    "persona_nll": "mean per-token NLL of held-out persona answers (probe answers, held-out persona segments)",
    "instruction_nll": "mean per-token NLL of held-out instructional answers",
    "length_median_ratio": "median answer length (tokens) on training questions over the median training answer length",
    "length_wasserstein": "earth mover's distance between answer and training lengths, in training medians",
}
CONTINUATION_WORDS = 16


def _mean(values) -> float | None:
    values = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return float(np.mean(values)) if values else None


def _interval(values) -> list[float] | None:
    values = [float(v) for v in values if v is not None]
    if len(values) < 2:
        return None
    low, high = bootstrap_ci(values, n=1000)
    return [round(low, 4), round(high, 4)]


def probe_segments(identity: list, labels: list[dict]) -> dict[str, str]:
    """Each identity probe's source segment: in the probe's source file, the segment holding most of its
    expected facts (then most of its reference answer's words); probes with no source or no match are left out."""
    out = {}
    for item in identity:
        name = Path(item.source or "").name
        if not name:
            continue
        facts = [normalise(f) for f in item.expected]
        answer = set(words(item.reference))
        best, best_key = None, (0, 0)
        for row in labels:
            if Path(row.get("source") or "").name != name:
                continue
            text = f" {normalise(row['text'])} "
            key = (sum(f" {f} " in text for f in facts), len(answer & set(text.split())))
            if key > best_key:
                best, best_key = row["segment_id"], key
        if best is not None and best_key[0] > 0:
            out[item.id] = best
    return out


def score_all(ws: Workspace, items: dict, answers: list[dict], train: list[dict], nll: dict,
              variants: list[str], log=print, trained_segments: set[str] | None = None,
              trained_questions: set[str] | None = None) -> dict:
    """`trained_segments`: the persona segments the tuned run trained on (from its run.json); identity
    recall is then also reported for facts whose source segment it saw and for those it never saw.
    `trained_questions`: the run's training questions (normalised); a probe asked word for word in
    training measures recitation, not recall, and is left out of every identity recall."""
    from personatune.embed import get_embedder

    embedder = get_embedder()
    labels = artifacts.read_jsonl(ws.stage_dir("label") / "labels.jsonl")
    vocab = source_vocab(r["text"] for r in labels)
    persona_texts = [r["text"] for r in labels if r["label"] == "persona"]
    other_texts = [r["text"] for r in labels if r["label"] != "persona"]
    terms = persona_terms(persona_texts, other_texts)
    facts = [fact for item in items.get("identity", []) for fact in (item.expected or [])]
    entities = persona_entities(persona_texts, (r["text"] for r in labels), facts)
    persona_vectors = embedder.encode(persona_texts) if persona_texts else np.zeros((0, 384))
    centroid = embedder.encode([r["text"] for r in labels]).mean(0)
    centroid /= np.linalg.norm(centroid) or 1.0
    longest: dict[str, str] = {}  # a segment's answers may start at different sentences: the longest holds them all
    for r in train:
        if len(r["answer"]) > len(longest.get(r["segment_id"], "")):
            longest[r["segment_id"]] = r["answer"]
    train_answers = list(longest.values())
    index = NgramIndex([words(a) for a in train_answers])
    by_id = {name: {i.id: i for i in group} for name, group in items.items()}
    sources = probe_segments(items.get("identity", []), labels) if trained_segments is not None else {}
    seen_by_run = {i for i, seg in sources.items() if seg in trained_segments} if sources else set()
    asked = sorted(i.id for i in items.get("identity", []) if normalise(i.question) in (trained_questions or set()))
    if asked:
        log(f"  {len(asked)} identity probe(s) asked word for word in training, left out of identity recall: "
            + ", ".join(asked[:5]))
    from personatune.eval.answer_checks import check_answer

    per_item: dict = {v: {} for v in variants}
    scores: dict = {v: {} for v in variants}
    lengths: dict = {"training": [int(r.get("tokens") or len(r["answer"].split())) for r in items_rows(train, items)]}
    echo: dict = {}
    vectors = embedder.encode([a["answer"] or " " for a in answers])
    for a, vector in zip(answers, vectors):
        a["_vector"] = vector
    references = {(name, i.id): i.reference for name, group in items.items() for i in group if i.reference}
    reference_vectors = dict(zip(references, embedder.encode(list(references.values())))) if references else {}
    for variant in variants:
        mine = [a for a in answers if a["variant"] == variant]
        for a in mine:
            item = by_id[a["set"]][a["prompt_id"]]
            detail: dict = {}
            if a["set"] in ("identity", "opinions"):
                invented = invented_biography(a["answer"], vocab, item.question)
                detail["invented"] = invented["invented"]
                if invented["unsupported"]:
                    detail["unsupported"] = [c["text"] for c in invented["unsupported"]]
            if a["set"] == "identity" and item.expected:
                detail["fact_recall"] = fact_recall(a["answer"], item.expected)
                detail["contradicts"] = contradicts(a["answer"], item.expected, vocab, item.question)["contradicts"]
            if a["set"] in ("opinions", "general") and (a["set"], item.id) in reference_vectors:
                detail["alignment"] = float(a["_vector"] @ reference_vectors[(a["set"], item.id)])
            if a["set"] == "general" and item.check is not None:
                passed = check_answer(item, a["answer"])
                if passed is not None:
                    detail["correct"] = bool(passed)
            if a["set"] == "neutral":
                bleed = bleeds(a["answer"], terms, item.question,
                               embed=lambda texts, v=a["_vector"]: np.asarray([v]),
                               persona_vectors=persona_vectors, entities=entities)
                detail.update(bleed=bleed["bleed"], terms=bleed["terms"] + bleed["patterns"] + bleed["entities"],
                              similarity=bleed["similarity"])
            if a["set"] == "transfer":
                detail["voice"] = float(a["_vector"] @ centroid)
            if a["set"] == "verbatim":
                out = words(a["answer"])
                detail["copied"] = index.copied_ngram_share(out, n=8) if len(out) >= 8 else 0.0
                detail["longest_run"] = index.longest_common_substring(out)
                detail["exact"] = exact_continuation(out, words(item.reference), k=CONTINUATION_WORDS)
            per_item[variant].setdefault(a["set"], {})[item.id] = detail
        sets = per_item[variant]

        def values(name: str, key: str, sets=sets) -> list:
            return [float(d[key]) for d in sets.get(name, {}).values() if key in d and d[key] is not None]

        identity_opinion = values("identity", "invented") + values("opinions", "invented")
        recall = {i: d for i, d in sets.get("identity", {}).items() if i not in asked}
        table = {
            "identity_recall": [float(d["fact_recall"]) for d in recall.values() if "fact_recall" in d],
            "identity_recall_trained": [float(d["fact_recall"]) for i, d in recall.items()
                                        if i in seen_by_run and "fact_recall" in d],
            "identity_recall_unseen": [float(d["fact_recall"]) for i, d in recall.items()
                                       if i in sources and i not in seen_by_run and "fact_recall" in d],
            "invented_rate": identity_opinion,
            "contradiction_rate": values("identity", "contradicts"),
            "opinion_alignment": values("opinions", "alignment"),
            "general_accuracy": values("general", "correct"),
            "general_similarity": values("general", "alignment"),
            "bleed_rate": values("neutral", "bleed"),
            "transfer_voice": values("transfer", "voice"),
            "copied_8gram_share": values("verbatim", "copied"),
            "longest_copied_run": values("verbatim", "longest_run"),
            "exact_continuation_rate": values("verbatim", "exact"),
        }
        source = nll.get("tuned" if variant.startswith("tuned") else "base", {})
        if variant in ("base", "tuned"):
            table["persona_nll"] = source.get("persona_nll", [])
            table["instruction_nll"] = source.get("instruction_nll", [])
        scores[variant] = {k: _mean(v) for k, v in table.items() if v}
        scores[variant]["_intervals"] = {k: _interval(v) for k, v in table.items() if len(v) > 1}
        generated = [a["tokens"] for a in mine if a["set"] == "verbatim"]
        if generated and lengths["training"]:
            drift = length_drift(generated, lengths["training"])
            scores[variant]["length_median_ratio"] = drift["median_ratio"]
            scores[variant]["length_wasserstein"] = drift["wasserstein"]
            lengths[variant] = generated
        echo[variant] = term_echo([a["answer"] for a in mine], vocab, prompts=[a["prompt"] for a in mine])[:12]
    for a in answers:
        a.pop("_vector", None)
    intervals = {v: scores[v].pop("_intervals") for v in variants}
    flags = []
    if "tuned" in scores and "base" in scores:
        flags = overfitting.flags(scores["tuned"], scores["base"])
    return {"variants": variants, "metrics": scores, "intervals": intervals, "per_item": per_item,
            "flags": flags, "term_echo": echo, "lengths": lengths, "persona_terms": terms[:30],
            "persona_entities": entities[:50], "probe_segments": sources,
            "probes_trained": sorted(seen_by_run) if trained_segments is not None else None,
            "probes_asked_in_training": asked,
            "definitions": DEFINITIONS}


def items_rows(train: list[dict], items: dict) -> list[dict]:
    """The training rows behind the verbatim probes (their answers set the length baseline)."""
    wanted = {i.id.removeprefix("verbatim-") for i in items.get("verbatim", [])}
    seen: dict[str, dict] = {}
    for row in train:
        if row["segment_id"] in wanted:
            seen.setdefault(row["segment_id"], row)
    return list(seen.values())


def metric_lines(result: dict) -> list[str]:
    """Every metric per variant with its 95% interval, for the terminal: a difference between two
    variants whose intervals overlap may be noise."""
    variants, metrics, intervals = result["variants"], result["metrics"], result.get("intervals", {})
    names = [n for n in DEFINITIONS if any(n in metrics.get(v, {}) for v in variants)]
    if not names:
        return []
    width = max(len(n) for n in names)

    def cell(variant: str, name: str) -> str:
        value = metrics.get(variant, {}).get(name)
        if value is None:
            return f"{'':20}"
        low_high = (intervals.get(variant) or {}).get(name)
        spread = f" [{low_high[0]:.2f}, {low_high[1]:.2f}]" if low_high else ""
        return f"{value:.3f}{spread}".rjust(20)

    lines = [f"{'metric (95% interval)':{width}}  " + "  ".join(f"{v:>20}" for v in variants)]
    lines += [f"{name:{width}}  " + "  ".join(cell(v, name) for v in variants) for name in names]
    return lines
