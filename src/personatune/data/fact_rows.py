"""Fact pairs: each specific fact the person states gets a short pair of its own.

A persona segment's facts ("I was born in Gdańsk") become questions answered by the one or two sentences that
hold them, so every fact has a specific way in. With `pairs.facts_from: every`, segments the labeller did not
call persona give their facts too, but only what the person says of themselves ("I use Vim as my editor" in a
post about shell scripting; the labeller finds about a third of a real archive's persona, bench/labeller.py):
a sentence whose subject is "I" or "my", never a "we" that means the reader too ("we use NULL to ...") and
never advice ("Do you recommend ...?"). Every fact row is a persona row, carries its segment's provenance
(`parent`) and is split with it.
"""

from __future__ import annotations

import re

from personatune.data.pair_checks import CHECKS, Checks, RoundTrip, lexical_problem
from personatune.data.retrieval import BM25

# The first person word of the sentence says whose fact it is: "I", "my" (the person) or "we", "our" (the
# person and the reader, a team, a project).
_PERSON_WORD = re.compile(r"\b(I|I'm|I've|I'd|my|me|mine|myself|we|We|our|Our|us|we're|we've)\b")
_SINGULAR = {"I", "I'm", "I've", "I'd", "my", "me", "mine", "myself"}
_ADVICE = re.compile(r"^(?:Do|Would|Did) you (?:recommend|suggest|advise|encourage|urge)\b")
_ABOUT_YOU = re.compile(r"\byour?\b", re.I)


def fact_rows(segments: list[dict], everything: list[dict], backend, settings,
              checks: Checks) -> list[dict]:
    """Short pairs for each specific fact of the segments `settings.facts_from` names (`settings` is the pairs
    stage's); provenance and split follow the segment."""
    if settings.fact_pairs == 0:
        return []
    found = []
    for seg in segments:
        own = seg["label"] == "persona"
        if not own and settings.facts_from != "every":
            continue
        for number, fact in enumerate(backend.facts(seg, settings.fact_pairs)):
            if own or said_of_themselves(fact.questions, fact.answer):
                found.append((seg, number, fact))
    trip = fact_trip(everything, {seg["segment_id"] for seg, _, _ in found}, settings)
    rows = []
    for seg, number, fact in found:
        kept = []
        for question in fact.questions:
            problem = lexical_problem(question, fact.answer, settings, kept, check_overlap=False)
            if problem:
                checks.failed("fact", CHECKS.get(problem, "form"), problem)
            elif not trip.finds(question, seg["segment_id"]):
                checks.failed("fact", "round trip", "round trip")
            else:
                checks.passed("fact", "form", "not a copy", "distinct", "round trip")
                kept.append(question)
        if not kept:
            continue
        rows.append({**{k: seg.get(k) for k in ("doc_id", "source", "title", "format", "start", "end", "offset",
                                                 "subtype")},
                     "label": "persona", "read_from": seg["label"],
                     "segment_id": f"{seg['segment_id']}~fact{number}", "parent": seg["segment_id"],
                     "key": f"{seg.get('key') or seg['segment_id']}~fact{number}", "kind": "fact",
                     "text": fact.answer, "questions": kept, "rejected": [], "sentence": fact.sentence,
                     "tokens": round(len(fact.answer.split()) * 1.3), "words": len(fact.answer.split())})
    return rows


def said_of_themselves(questions: list[str], answer: str) -> bool:
    """Outside persona, a fact counts when the person says it of themselves: the answer's first person word is
    "I" or "my" (not "we"), and the questions ask about "you" without asking for advice."""
    first = _PERSON_WORD.search(answer)
    return bool(first) and first.group(1) in _SINGULAR and \
        all(_ABOUT_YOU.search(q) and not _ADVICE.match(q) for q in questions)


def fact_trip(everything: list[dict], also: set[str], settings) -> RoundTrip:
    """The round trip of fact questions: among what the person says about themselves (the persona segments and
    every segment a fact is read from). "Where do you live?" is the question a fan asks, and the sentence it was
    read off answers it, but among 2,000 segments of a blog BM25 ranks others that say "live" higher; among what
    the person says about themselves it must still come first."""
    own = [s for s in everything if s["label"] == "persona" or s["segment_id"] in also]
    return RoundTrip(BM25([s["text"] for s in own]), {s["segment_id"]: i for i, s in enumerate(own)},
                     settings.round_trip_top_k)
