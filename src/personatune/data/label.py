"""label: mark each segment persona (with a subtype), instructional or other, with a score and a one-line reason.

Two passes over every segment: a cue pass (cue phrases, and for segments with enough of them
MiniLM similarity to seed examples) and a classifier trained on real people's archives
(`label_model`) that reads the shape of every segment and takes the cue pass's score as evidence.
A segment is persona when the classifier's probability reaches `persona_threshold`, or the cue
pass alone is sure. Human decisions in labels.override.jsonl always win and adapt the classifier
to the archive; the tool appends to that file (during --review) and never rewrites it.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources

import numpy as np
import yaml

from personatune import artifacts
from personatune.data.label_cues import (
    BOILERPLATE_CUES,
    SUBTYPES,
    instruction_score,
    lexical_features,
)
from personatune.data.stage import StageContext
from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting

VERSION = 5
LABELS = ("persona", "instructional", "other")


@dataclass
class Settings(BaseSettings):
    persona_threshold: float = setting(0.65, help="classifier probability at or above which a segment is persona")
    review_margin: float = setting(0.15, help="segments whose probability is within this distance of the threshold "
                                              "are borderline and offered in `label --review`")
    cue_threshold: float = setting(0.35, help="cue-pass score (cues + seed similarity) at or above which a segment "
                                              "is persona whatever the classifier says")
    adapt_strength: float = setting(3.0, help="how firmly the classifier keeps its shipped weights when it adapts "
                                               "to this archive's human decisions (lower moves faster)")
    candidate_min: float = setting(0.8, help="lexical persona score a segment needs before it is embedded; "
                                             "lower finds more, costs more embedding time")
    lexical_weight: float = setting(0.45, help="weight of the lexical cue score in the combined score")
    lexical_saturation: float = setting(5.0, help="lexical score that counts as full evidence")
    similarity_floor: float = setting(-0.05, help="margin (persona seed similarity minus instructional seed "
                                                  "similarity) that maps to 0 embedding evidence")
    similarity_ceiling: float = setting(0.15, help="margin that maps to full embedding evidence")
    min_words: int = setting(12, help="shorter segments are labelled other")
    continuation_weight: float = setting(0.6, help="score given to the cue-less rest of an aside cut by chunking, "
                                                    "as a fraction of its persona neighbour's score (0 = off)")
    windows_per_segment: int = setting(3, help="passages of a candidate segment that are embedded (its best by cues)")
    embedder: str = setting("all-minilm-l6-v2", help="sentence embedding model (name, folder or hub id)")
    backend: str = setting("classifier", choices=("classifier", "openai"),
                           help="classifier (offline, default) or openai: a language model labels every segment "
                                "against the definition, the classifier's label stays where its answer is unusable")
    openai_base_url: str = setting("", help="endpoint for backend openai (else $OPENAI_BASE_URL)")
    openai_model: str = setting("", help="model for backend openai (else $PERSONATUNE_OPENAI_MODEL)")
    openai_api_key_env: str = setting("OPENAI_API_KEY", help="environment variable holding the API key")
    openai_timeout: float = setting(60.0, help="seconds to wait for one answer of the endpoint")
    seed_examples: dict = setting(default_factory=dict,
                                  help="extra seeds: {subtype: [text, ...], instructional: [...]}")

    def problems(self) -> list[str]:
        out = []
        for name in ("persona_threshold", "cue_threshold"):
            if not 0 < getattr(self, name) < 1:
                out.append(f"{name} must be in (0, 1)")
        if self.adapt_strength <= 0:
            out.append("adapt_strength must be > 0")
        if self.similarity_ceiling <= self.similarity_floor:
            out.append("similarity_ceiling must be above similarity_floor")
        if not 0 <= self.lexical_weight <= 1:
            out.append("lexical_weight must be in [0, 1]")
        unknown = set(self.seed_examples) - set(SUBTYPES) - {"instructional"}
        if unknown:
            out.append(f"seed_examples has unknown keys {sorted(unknown)}; use {', '.join(SUBTYPES)}, instructional")
        return out


def text_key(text: str) -> str:
    """Stable identity of a segment's content, so overrides survive re-chunking that keeps the text."""
    return artifacts.sha256_text(" ".join(text.lower().split()))[:16]


def load_seeds(settings: Settings, human_persona: list[dict]) -> tuple[list[str], list[str], list[str]]:
    """(persona seed texts, their subtypes, instructional seed texts)."""
    data = yaml.safe_load(resources.files("personatune.data").joinpath("label_seeds.yaml").read_text())
    texts, kinds = [], []
    for subtype, items in data["persona"].items():
        for item in items + list(settings.seed_examples.get(subtype, [])):
            texts.append(item)
            kinds.append(subtype)
    for row in human_persona:
        texts.append(row["text"])
        kinds.append(row.get("subtype") or "story")
    instructional = list(data["instructional"]) + list(settings.seed_examples.get("instructional", []))
    return texts, kinds, instructional


def read_overrides(path) -> dict[str, dict]:
    """Latest human decision per segment (by content key, falling back to segment id)."""
    out: dict[str, dict] = {}
    if path is None or not path.exists():
        return out
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except ValueError:
            raise UserError(f"{path} line {number}: not JSON; fix or delete that line") from None
        if not isinstance(row, dict):
            raise UserError(f"{path} line {number}: expected an object like {{\"key\": ..., \"label\": \"persona\", "
                            f"\"subtype\": \"story\"}}, got {type(row).__name__}; fix or delete that line")
        if row.get("label") not in LABELS:
            raise UserError(f"{path} line {number}: label must be one of {', '.join(LABELS)}")
        if row.get("label") == "persona" and row.get("subtype") not in SUBTYPES:
            raise UserError(f"{path} line {number}: persona needs a subtype ({', '.join(SUBTYPES)})")
        for key in (row.get("key"), row.get("segment_id")):
            if key:
                out[key] = row
    return out


# ---------------------------------------------------------------- gold labels


def load_gold(path) -> list[dict]:
    rows = artifacts.read_jsonl(path)
    for number, row in enumerate(rows, 1):
        if not isinstance(row.get("text"), str) or not row.get("source"):
            raise UserError(f"{path} row {number}: gold labels need `source` (file name) and `text` (the passage)")
    return rows


def _grams(text: str, n: int = 5) -> set[str]:
    words = re.findall(r"[a-z0-9']+", text.lower())
    return {" ".join(words[i:i + n]) for i in range(max(0, len(words) - n + 1))}


def gold_persona_ids(segments: list[dict], gold: list[dict]) -> set[str]:
    """A segment is gold persona when it holds a real part of a gold passage: >= 30% of the segment, or
    >= 10 shared word 5-grams (about 14 consecutive words), since chunking may cut an aside in two."""
    by_name: dict[str, list[set[str]]] = {}
    for row in gold:
        by_name.setdefault(row["source"].rsplit("/", 1)[-1], []).append(_grams(row["text"]))
    out = set()
    for seg in segments:
        passages = by_name.get(seg["source"].rsplit("/", 1)[-1])
        if not passages:
            continue
        grams = _grams(seg["text"])
        for gold_grams in passages:
            common = len(grams & gold_grams)
            if grams and (common / len(grams) >= 0.3 or common >= 10):
                out.add(seg["segment_id"])
                break
    return out


def precision_recall(predicted: set[str], gold: set[str]) -> dict:
    tp = len(predicted & gold)
    precision = tp / len(predicted) if predicted else 0.0
    recall = tp / len(gold) if gold else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": round(precision, 3), "recall": round(recall, 3), "f1": round(f1, 3),
            "true_positives": tp, "predicted": len(predicted), "gold": len(gold),
            "false_positives": sorted(predicted - gold), "false_negatives": sorted(gold - predicted)}


# ---------------------------------------------------------------- labelling


def cue_pass(segments: list[dict], features: list[dict], settings: Settings, human_persona: list[dict],
             embedder=None, log=print) -> list[tuple[float, str, float, float]]:
    """Per segment: (cue score, nearest persona seed's subtype, its similarity, instruction similarity).

    Cue phrases score every segment; those with enough cue evidence have their best windows embedded
    (MiniLM) and compared with seed examples (built in, from settings, and the person's own persona).
    """
    candidates = [i for i, f in enumerate(features)
                  if f["lexical"] >= settings.candidate_min and len(segments[i]["text"].split()) >= settings.min_words]
    seed_texts, seed_kinds, instr_texts = load_seeds(settings, human_persona)
    sims: dict[int, tuple[float, str, float]] = {}
    if candidates:
        if embedder is None:
            from personatune.embed import get_embedder
            embedder = get_embedder(settings.embedder)
        # Embed only each candidate's best few windows: an aside is short, and MiniLM is the cost.
        chosen: list[tuple[int, str]] = []
        for i in candidates:
            f = features[i]
            order = sorted(range(len(f["windows"])), key=lambda k: -f["window_scores"][k])[:settings.windows_per_segment]
            chosen.extend((i, f["windows"][k]) for k in order)
        log(f"  embedding {len(chosen)} passages of {len(candidates)} of {len(segments)} segments with persona cues")
        seed_vecs = embedder.encode(seed_texts)
        instr_vecs = embedder.encode(instr_texts)
        vecs = embedder.encode([text for _, text in chosen])
        persona_sim = vecs @ seed_vecs.T
        instr_sim = (vecs @ instr_vecs.T).max(axis=1)
        for row, (i, _) in enumerate(chosen):
            best = int(np.argmax(persona_sim[row]))
            candidate = (float(persona_sim[row, best]), seed_kinds[best], float(instr_sim[row]))
            if i not in sims or candidate[0] - candidate[2] > sims[i][0] - sims[i][2]:
                sims[i] = candidate
    out = []
    span = settings.similarity_ceiling - settings.similarity_floor
    for i, feat in enumerate(features):
        lex_norm = min(1.0, feat["lexical"] / settings.lexical_saturation)
        if i in sims:
            p_sim, p_kind, i_sim = sims[i]
            emb_norm = float(np.clip((p_sim - i_sim - settings.similarity_floor) / span, 0, 1))
        else:
            p_sim, p_kind, i_sim, emb_norm = 0.0, "", 0.0, 0.0
        out.append((settings.lexical_weight * lex_norm + (1 - settings.lexical_weight) * emb_norm, p_kind, p_sim, i_sim))
    return out


def _subtype(feat: dict, seed_kind: str, sequence: list[str]) -> str:
    scores = dict(feat["per_type"])
    if seed_kind:
        scores[seed_kind] = scores.get(seed_kind, 0) + 1.0
    if not any(scores.values()):  # no cue at all: a told past is a story, a present-tense view an opinion
        return "story" if sequence.count("VBD") * 8 >= max(1, len(sequence)) else "opinion"
    return max(SUBTYPES, key=lambda k: scores[k])


def auto_label(segments: list[dict], settings: Settings, human_persona: list[dict], embedder=None,
               log=print, decisions: dict[str, str] | None = None) -> list[dict]:
    """Label every segment: the learned classifier's probability decides, the cue pass can add.

    `decisions` maps segment ids to human labels of this archive: the classifier adapts to them first.
    """
    from personatune.data import label_model

    features = [lexical_features(s["text"]) for s in segments]
    cues = cue_pass(segments, features, settings, human_persona, embedder, log)
    texts = [s["text"] for s in segments]
    sequences = label_model.shape_sequences(texts)
    x = label_model.features(texts, features, [c[0] for c in cues], [c[0] >= settings.cue_threshold for c in cues],
                             sequences)
    model = label_model.shipped()
    if decisions:
        index = [i for i, s in enumerate(segments) if s["segment_id"] in decisions]
        y = np.array([decisions[segments[i]["segment_id"]] == "persona" for i in index], dtype=np.float64)
        model = label_model.adapt(model, x[index], y, settings.adapt_strength)
        log(f"  classifier adapted to {len(index)} human decisions of this archive")
    probability = model.predict(x)
    out = []
    for i, (seg, feat) in enumerate(zip(segments, features)):
        words = len(seg["text"].split())
        cue_score, p_kind, p_sim, i_sim = cues[i]
        p = float(probability[i])
        by_model, by_cues = p >= settings.persona_threshold, cue_score >= settings.cue_threshold
        if seg.get("voice") == "other":
            label, subtype = "other", None
            reason = f"said by {seg.get('speaker')}, another voice: never persona, never an answer"
        elif (by_model or by_cues) and words >= settings.min_words:
            label = "persona"
            sequence = sequences[i]
            subtype = _subtype(feat, p_kind, sequence)
            said = ", ".join(f"'{h}'" for h in feat["hits"]) or "none"
            shape = ", ".join(model.why(x[i], sequence)) or "none"
            decided = "classifier" if by_model else "cue pass"
            reason = (f"persona ({subtype}) by the {decided}: classifier {p:.2f} (shape {shape}); cues {said}, "
                      f"cue score {cue_score:.2f}" + (f", seed similarity {p_sim:.2f} ({p_kind}) vs instruction "
                                                      f"{i_sim:.2f}" if p_kind else ""))
        elif words < settings.min_words or (words < 40 and BOILERPLATE_CUES.search(seg["text"])
                                             and feat["instruction"] < 1):
            label, subtype = "other", None
            reason = "too short to teach anything" if words < settings.min_words else "channel housekeeping"
        else:
            label, subtype = "instructional", None
            reason = f"classifier {p:.2f} and cue score {cue_score:.2f} below their thresholds"
        out.append({**seg, "key": text_key(seg["text"]), "label": label, "subtype": subtype,
                    "score": round(p, 3), "cue_score": round(cue_score, 3), "reason": reason, "labelled_by": "auto",
                    "borderline": abs(p - settings.persona_threshold) <= settings.review_margin})
    if settings.continuation_weight > 0:
        propagate_asides(out, features, settings)
    return out


def propagate_asides(rows: list[dict], features: list[dict], settings: Settings) -> int:
    """An aside cut in two by chunking: its second half often has no cues of its own.

    When a persona segment's best passage touches its end (or start), the neighbouring segment's
    touching passage continues it, unless that passage is plainly instruction.
    """
    changed = 0
    threshold = settings.cue_threshold
    for i, row in enumerate(rows):
        if row["label"] != "persona" or row["labelled_by"] != "auto":
            continue
        scores = features[i]["window_scores"]
        best = max(range(len(scores)), key=lambda k: scores[k])
        for neighbour, touching in ((i + 1, best >= len(scores) - 2), (i - 1, best <= 1)):
            if not touching or not 0 <= neighbour < len(rows):
                continue
            other = rows[neighbour]
            if other["doc_id"] != row["doc_id"] or other["label"] == "persona" or other.get("voice") == "other":
                continue
            edge = features[neighbour]["windows"][0 if neighbour > i else -1]
            if instruction_score(edge) >= 0.5:
                continue
            score = round(settings.continuation_weight * row["cue_score"], 3)
            if score >= threshold:
                other.update(label="persona", subtype=row["subtype"], cue_score=score,
                             reason=f"persona ({row['subtype']}): continues the aside in {row['segment_id']}")
                changed += 1
    return changed


def apply_overrides(rows: list[dict], overrides: dict[str, dict]) -> int:
    applied = 0
    for row in rows:
        human = overrides.get(row["key"]) or overrides.get(row["segment_id"])
        if human:
            row["auto_label"] = row["label"]
            row["label"] = human["label"]
            row["subtype"] = human.get("subtype") if human["label"] == "persona" else None
            row["reason"] = f"human override ({human.get('note') or 'labels.override.jsonl'})"
            row["labelled_by"] = "human"
            row["borderline"] = False
            applied += 1
    return applied


def inputs(ws, settings: Settings) -> dict:
    out = {}
    for name, path in (("overrides", ws.overrides_path), ("gold", ws.path_setting("gold_labels"))):
        if path is not None and path.exists():
            out[name] = artifacts.sha256_file(path)
        elif name == "gold" and path is not None:
            raise UserError(f"{ws.config_path}: gold_labels file {path} does not exist")
    return out


def run(ctx: StageContext, settings: Settings) -> dict:
    segments = artifacts.read_jsonl(ctx.previous / "segments.jsonl")
    overrides = read_overrides(ctx.ws.overrides_path)
    human_persona = [r for r in overrides.values() if r.get("label") == "persona" and r.get("text")]
    decisions = {}
    for seg in segments:
        human = overrides.get(text_key(seg["text"])) or overrides.get(seg["segment_id"])
        if human:
            decisions[seg["segment_id"]] = human["label"]
    rows = auto_label(segments, settings, human_persona, log=ctx.log, decisions=decisions)
    llm = None
    if settings.backend == "openai":
        from personatune.data.label_llm import llm_pass

        llm = llm_pass(rows, settings, ctx.ws, ctx.log)
    auto_persona = {r["segment_id"] for r in rows if r["label"] == "persona"}
    applied = apply_overrides(rows, overrides)
    artifacts.write_jsonl(ctx.out / "labels.jsonl", rows)
    counts = Counter(r["label"] for r in rows)
    subtypes = Counter(r["subtype"] for r in rows if r["label"] == "persona")
    report = {"segments": len(rows), "labels": dict(counts), "persona_subtypes": dict(subtypes),
              "persona_share": round(counts["persona"] / max(1, len(rows)), 4),
              "borderline": sum(r["borderline"] for r in rows), "human_overrides_applied": applied,
              "thresholds": {"persona": settings.persona_threshold, "cue": settings.cue_threshold,
                             "review_margin": settings.review_margin},
              "decided_by": {"classifier": sum(r["label"] == "persona" and r["labelled_by"] == "auto"
                                               and r["score"] >= settings.persona_threshold for r in rows),
                             "cue pass only": sum(r["label"] == "persona" and r["labelled_by"] == "auto"
                                                  and r["score"] < settings.persona_threshold for r in rows)},
              "classifier_adapted_on": len(decisions), "backend": settings.backend, **({"llm": llm} if llm else {})}
    gold_path = ctx.ws.path_setting("gold_labels")
    if gold_path is not None:
        gold = gold_persona_ids(segments, load_gold(gold_path))
        final = {r["segment_id"] for r in rows if r["label"] == "persona"}
        report["gold"] = {"automatic": precision_recall(auto_persona, gold), "final": precision_recall(final, gold)}
        auto = report["gold"]["automatic"]
        ctx.log(f"  against gold labels: precision {auto['precision']:.2f}, recall {auto['recall']:.2f} "
                f"({auto['true_positives']}/{auto['gold']} gold persona segments found, {auto['predicted']} predicted)")
    ctx.log(f"  {counts['persona']} persona ({report['persona_share']:.1%}), {counts['instructional']} instructional, "
            f"{counts['other']} other; {report['borderline']} borderline for review")
    return report
