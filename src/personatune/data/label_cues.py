"""label's cheap first pass: cue phrases scored over short windows of a segment's sentences.

Every segment gets a lexical persona score, its subtype evidence and the cues it matched; only
segments with enough of it go on to the embedding pass in `label`.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter

SUBTYPES = ("background", "opinion", "working_style", "story", "values")

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
