"""label: mark each segment persona (with a subtype), instructional or other, with a score and a one-line reason.

The persona is ~1% of an archive, so the labeller works in two passes: cheap lexical cues score
every segment, and only those with some persona signal are embedded (MiniLM) and compared with
seed examples. Human decisions in labels.override.jsonl always win; the tool appends to that file
(during --review) and never rewrites it.
"""

from __future__ import annotations

import bisect
import json
import re
from collections import Counter
from dataclasses import dataclass
from importlib import resources

import numpy as np
import yaml

from personatune import artifacts
from personatune.data.stage import StageContext
from personatune.errors import UserError
from personatune.settings import Settings as BaseSettings
from personatune.settings import setting

VERSION = 4
SUBTYPES = ("background", "opinion", "working_style", "story", "values")
LABELS = ("persona", "instructional", "other")

# Cue phrases: (regex, weight). Weights are rough log-odds from reading real archives: a parent or a
# hometown is strong evidence of biography; "I think" is weak (teachers say it all the time).
CUES: dict[str, list[tuple[str, float]]] = {
    "background": [
        (r"\bgrew up\b", 2.0), (r"\bwas born\b", 2.0), (r"\bmy (?:mom|mother|dad|father|parents|grandfather|"
         r"grandmother|grandpa|grandma|family|wife|husband|partner|kids|children|daughter|son|brother|sister|"
         r"uncle|aunt)\b", 1.6), (r"\bmoved (?:to|here|back)\b", 1.0), (r"\bi studied\b", 1.6),
        (r"\b(?:college|university|degree|high school|dropped out)\b", 1.0), (r"\bhometown\b", 2.0),
        (r"\bwhen i was (?:a kid|young|little|\d+|a teenager|fourteen|twelve)\b", 1.8),
        (r"\bi live (?:in|with)\b", 1.4), (r"\bmy (?:dog|cat)\b", 1.2), (r"\bmarried\b", 1.4),
        (r"\byears old\b", 1.2), (r"\bour (?:house|home|place|kids|dog|cat|garage)\b", 1.0),
    ],
    "story": [
        (r"\byears ago\b", 1.4), (r"\bback (?:when|then|in \d{4})\b", 1.4), (r"\bi remember\b", 1.4),
        (r"\bthe first time i\b", 1.2), (r"\bi used to\b", 1.0), (r"\bi worked (?:at|as|for|in)\b", 1.8),
        (r"\bmy first (?:job|shop|tool|video|project|boss)\b", 1.8), (r"\bapprentice(?:ship)?\b", 1.2),
        (r"\b(?:started|start) (?:this|the|my) channel\b", 2.0), (r"\bin (?:19|20)\d\d\b", 0.8),
        (r"\bi learned (?:that )?the hard way\b", 1.4), (r"\bi quit\b", 1.4), (r"\bmy career\b", 1.6),
        (r"\bthat was the (?:year|day|moment)\b", 1.2), (r"\bnever forgot\b", 1.2),
    ],
    "opinion": [
        (r"\bin my opinion\b", 1.6), (r"\bi (?:honestly |really |genuinely )?(?:believe|think)\b", 0.5),
        (r"\bhonestly\b", 0.4), (r"\bover(?:rated|used|hyped|priced)\b", 1.4), (r"\bunderrated\b", 1.4),
        (r"\bopinion\b", 1.0),
        (r"\bunpopular opinion\b", 2.0), (r"\bi'?m not a fan\b", 1.4), (r"\bmy take\b", 1.6),
        (r"\bpeople (?:say|argue|tell me|will tell you|online)\b", 0.8), (r"\bi(?:'d| would) rather\b", 0.6),
        (r"\bthe truth is\b", 0.8), (r"\bi disagree\b", 1.4), (r"\b(?:hot take|controversial)\b", 1.4),
        (r"\bi don'?t (?:buy|believe|care for|like)\b", 0.8), (r"\bi'?ll (?:die on|defend)\b", 1.6),
        (r"\bnot cheating\b", 1.2), (r"\bwaste of money\b", 1.0), (r"\bmy (?:honest )?(?:opinion|advice)\b", 1.2),
        (r"\bjust my opinion\b", 1.6), (r"\b(?:confession|hill i'?ll die on)\b", 1.6), (r"\bangry comments?\b", 1.2),
        (r"\bworth every penny\b", 1.0), (r"\b(?:i know )?some of you (?:are|will|think)\b", 0.6),
    ],
    "working_style": [
        (r"\bmy (?:process|routine|workflow|system|habit|rule)\b", 1.4), (r"\bevery (?:morning|day|week|evening)\b", 0.8),
        (r"\bthe way i work\b", 1.8), (r"\bi always\b", 0.5), (r"\bi never\b", 0.5),
        (r"\bi (?:script|plan|film|edit|write)\b", 0.8), (r"\bindex cards?\b", 0.8),
        (r"\bhow i (?:work|plan|make (?:these|my) videos)\b", 1.6), (r"\ba lot of you (?:have )?asked\b", 1.0),
        (r"\bpeople ask(?:ed)? (?:me )?(?:for|about|how|if)\b", 0.8), (r"\b(?:first|second|last) question\b", 0.8),
    ],
    "values": [
        (r"\bi care (?:about|a lot)\b", 1.4), (r"\bwhat matters\b", 1.4), (r"\bmatters to me\b", 1.8),
        (r"\bimportant to me\b", 1.8), (r"\bi refuse\b", 1.6), (r"\bi won'?t (?:ever|take|recommend|promote)\b", 1.2),
        (r"\bi promise(?:d)?\b", 0.8), (r"\bi value\b", 1.4), (r"\bbeing honest\b", 1.4),
        (r"\bmy (?:rule|principle|promise)\b", 1.4), (r"\bi owe (?:you|it)\b", 1.0),
    ],
}
INSTRUCTION_CUES = [
    (r"^(?:take|set|clamp|cut|mark|make sure|place|put|grab|drill|sand|apply|check|measure|hold|start|"
     r"now|next|then|go ahead|flip|repeat|use|lay|line|slide|push|pull|keep|let)\b", 0.6),
    (r"\byou(?:'ll| will| want to| need to| can| should|'re going to)\b", 0.35),
    (r"\b\d+(?:\.\d+)?\s?(?:inch(?:es)?|in\b|mm|millimet(?:er|re)s?|degrees?|grit|rpm|minutes?|psi|cfm|"
     r"feet|foot|percent|%)", 0.5),
    (r"\b(?:step|first|second|third|finally)\b", 0.2),
]
BOILERPLATE_CUES = re.compile(r"\b(?:subscribe|sponsor|promo code|description below|patreon|merch)\b", re.I)

_COMPILED = {k: [(re.compile(p, re.I | re.M), w) for p, w in v] for k, v in CUES.items()}
_INSTR = [(re.compile(p, re.I | re.M), w) for p, w in INSTRUCTION_CUES]
_FIRST_PERSON = re.compile(r"\b(?:i|i'm|i've|i'd|i'll|my|me|myself|mine)\b", re.I)
_SENT = re.compile(r"(?<=[.!?])\s+")


@dataclass
class Settings(BaseSettings):
    persona_threshold: float = setting(0.35, help="combined score at or above which a segment is persona")
    review_margin: float = setting(0.15, help="segments within this distance of the threshold are borderline "
                                              "and offered in `label --review`")
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
    seed_examples: dict = setting(default_factory=dict,
                                  help="extra seeds: {subtype: [text, ...], instructional: [...]}")

    def problems(self) -> list[str]:
        out = []
        if not 0 < self.persona_threshold < 1:
            out.append("persona_threshold must be in (0, 1)")
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


_CUE_LIST = [(subtype, pattern, weight) for subtype, cues in _COMPILED.items() for pattern, weight in cues]


def _units(text: str) -> list[tuple[int, int]]:
    """Character spans of sentences, or of 15-word runs where there is no punctuation."""
    spans, start = [], 0
    for match in _SENT.finditer(text):
        spans.append((start, match.start()))
        start = match.end()
    spans.append((start, len(text)))
    spans = [(a, b) for a, b in spans if text[a:b].strip()]
    if len(spans) >= 2 and max(len(text[a:b].split()) for a, b in spans) <= 60:
        return spans
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", text)]
    return [(words[i][0], words[min(i + 15, len(words)) - 1][1]) for i in range(0, len(words), 15)] or [(0, len(text))]


def _score(counts: Counter, instr: float, first_person: int, words: int, sentences: int) -> tuple[float, dict]:
    per_type = {k: 0.0 for k in SUBTYPES}
    for cue, count in counts.items():
        subtype, _, weight = _CUE_LIST[cue]
        per_type[subtype] += weight * min(count, 2)
    persona = sum(per_type.values())
    density = first_person / max(1, words)
    # A first-person voice makes weak cues count; instruction in the same sentences discounts them.
    lex = persona * (0.6 + min(density * 8, 0.8)) - 1.2 * instr / max(1, sentences)
    return max(lex, 0.0), per_type


def lexical_features(text: str) -> dict:
    """Score every two-unit window (sentence pair, or ~30 words) and keep the best.

    Persona often arrives as a short aside inside a lesson; scoring windows instead of the whole
    segment keeps the lesson around it from drowning the signal. Each cue regex runs once per
    text; hits are assigned to units by position.
    """
    units = _units(text)
    starts = [a for a, _ in units]
    unit_cues = [Counter() for _ in units]
    hits: list[list[str]] = [[] for _ in units]
    for index, (_, pattern, _) in enumerate(_CUE_LIST):
        for match in pattern.finditer(text):
            unit = max(0, bisect.bisect_right(starts, match.start()) - 1)
            unit_cues[unit][index] += 1
            hits[unit].append(match.group(0))
    unit_text = [text[a:b] for a, b in units]
    unit_instr = [sum(w for p, w in _INSTR if p.search(t)) for t in unit_text]
    unit_fp = [len(_FIRST_PERSON.findall(t)) for t in unit_text]
    unit_words = [len(t.split()) for t in unit_text]
    size = 2 if len(units) > 1 else 1
    window_scores, window_texts, window_hits = [], [], []
    for i in range(max(1, len(units) - size + 1)):
        part = range(i, min(len(units), i + size))
        counts = sum((unit_cues[k] for k in part), Counter())
        score, _ = _score(counts, sum(unit_instr[k] for k in part), sum(unit_fp[k] for k in part),
                          sum(unit_words[k] for k in part), len(part))
        window_scores.append(score)
        window_texts.append(" ".join(unit_text[k] for k in part))
        window_hits.append([h for k in part for h in hits[k]])
    total = sum(unit_cues, Counter())
    _, per_type = _score(total, 0.0, 0, 1, 1)
    best = max(range(len(window_scores)), key=lambda k: window_scores[k])
    all_hits = [h for unit in hits for h in unit]
    words = max(1, sum(unit_words))
    return {"lexical": window_scores[best], "per_type": per_type, "hits": (window_hits[best] or all_hits)[:4],
            "instruction": sum(unit_instr), "first_person": sum(unit_fp) / words,
            "windows": window_texts, "window_scores": window_scores}


def instruction_score(text: str) -> float:
    """Summed instruction cues over a passage's sentences (used for the edges of cut asides)."""
    return sum(w for sentence in (_SENT.split(text) or [text]) for p, w in _INSTR if p.search(sentence))


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


def auto_label(segments: list[dict], settings: Settings, human_persona: list[dict], embedder=None,
               log=print) -> list[dict]:
    features = [lexical_features(s["text"]) for s in segments]
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
    for i, (seg, feat) in enumerate(zip(segments, features)):
        words = len(seg["text"].split())
        lex_norm = min(1.0, feat["lexical"] / settings.lexical_saturation)
        if i in sims:
            p_sim, p_kind, i_sim = sims[i]
            emb_norm = float(np.clip((p_sim - i_sim - settings.similarity_floor) / span, 0, 1))
        else:
            p_sim, p_kind, i_sim, emb_norm = 0.0, "", 0.0, 0.0
        score = settings.lexical_weight * lex_norm + (1 - settings.lexical_weight) * emb_norm
        subtype_scores = dict(feat["per_type"])
        if p_kind:
            subtype_scores[p_kind] = subtype_scores.get(p_kind, 0) + 1.0
        subtype = max(SUBTYPES, key=lambda k: subtype_scores[k])
        if score >= settings.persona_threshold:
            label = "persona"
            cues = ", ".join(f"'{h}'" for h in feat["hits"]) or "none"
            reason = (f"persona ({subtype}): cues {cues}; seed similarity {p_sim:.2f} ({p_kind or '-'}) "
                      f"vs instruction {i_sim:.2f}")
        elif words < settings.min_words or (words < 40 and BOILERPLATE_CUES.search(seg["text"])
                                             and feat["instruction"] < 1):
            label, subtype = "other", None
            reason = "too short to teach anything" if words < settings.min_words else "channel housekeeping"
        else:
            label, subtype = "instructional", None
            reason = f"instruction cues {feat['instruction']:.1f}, persona score {score:.2f} below threshold"
        out.append({**seg, "key": text_key(seg["text"]), "label": label, "subtype": subtype,
                    "score": round(score, 3), "reason": reason, "labelled_by": "auto",
                    "borderline": abs(score - settings.persona_threshold) <= settings.review_margin})
    if settings.continuation_weight > 0:
        propagate_asides(out, features, settings)
    return out


def propagate_asides(rows: list[dict], features: list[dict], settings: Settings) -> int:
    """An aside cut in two by chunking: its second half often has no cues of its own.

    When a persona segment's best passage touches its end (or start), the neighbouring segment's
    touching passage continues it, unless that passage is plainly instruction.
    """
    changed = 0
    threshold = settings.persona_threshold
    for i, row in enumerate(rows):
        if row["label"] != "persona" or row["labelled_by"] != "auto":
            continue
        scores = features[i]["window_scores"]
        best = max(range(len(scores)), key=lambda k: scores[k])
        for neighbour, touching in ((i + 1, best >= len(scores) - 2), (i - 1, best <= 1)):
            if not touching or not 0 <= neighbour < len(rows):
                continue
            other = rows[neighbour]
            if other["doc_id"] != row["doc_id"] or other["label"] == "persona":
                continue
            edge = features[neighbour]["windows"][0 if neighbour > i else -1]
            if instruction_score(edge) >= 0.5:
                continue
            score = round(settings.continuation_weight * row["score"], 3)
            if score >= threshold:
                other.update(label="persona", subtype=row["subtype"], score=score,
                             reason=f"persona ({row['subtype']}): continues the aside in {row['segment_id']}",
                             borderline=abs(score - threshold) <= settings.review_margin)
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
    rows = auto_label(segments, settings, human_persona, log=ctx.log)
    auto_persona = {r["segment_id"] for r in rows if r["label"] == "persona"}
    applied = apply_overrides(rows, overrides)
    artifacts.write_jsonl(ctx.out / "labels.jsonl", rows)
    counts = Counter(r["label"] for r in rows)
    subtypes = Counter(r["subtype"] for r in rows if r["label"] == "persona")
    report = {"segments": len(rows), "labels": dict(counts), "persona_subtypes": dict(subtypes),
              "persona_share": round(counts["persona"] / max(1, len(rows)), 4),
              "borderline": sum(r["borderline"] for r in rows), "human_overrides_applied": applied,
              "thresholds": {"persona": settings.persona_threshold, "review_margin": settings.review_margin}}
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
