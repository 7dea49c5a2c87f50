"""Questions a student asks, read off the teaching sentence that answers them.

A lesson states what it teaches in a few recurring shapes; each becomes the question it answers,
in the teacher's own words:
- "To flatten the back, rub it on a diamond plate." -> "How do you flatten the back?"
- "If you want to avoid tear-out, score the line first." -> "How do I avoid tear-out?"
- "The best way to store chisels is in a roll." -> "What's the best way to store chisels?"
- "A dado is a square groove across the grain." -> "What is a dado?"
- "A marking gauge is used to scribe lines." -> "What is a marking gauge used for?"; "X lets you ..." ->
  "What does X let you do?"; "X means ..." -> "What does X mean?"; "X matters because ..." -> "Why does X
  matter?"; "X is stronger than Y" -> "Which is stronger, X or Y?"; "I use X for Y" -> "What do you use for Y?"
The verb phrase or noun phrase is a slice of the sentence (first-person words turned to "your").
"""

from __future__ import annotations

import re

from personatune.data.fact_questions import yours
from personatune.data.pos import NOUNS, Phrase, Token
from personatune.data.question_forms import LIGHT_NOUNS, needs_passage, slot

# Abstract heads whose "X is ..." sentence is a claim, not a definition ("The problem is that ...").
NOT_DEFINED = {"problem", "idea", "reason", "goal", "answer", "result", "truth", "issue", "difference", "key",
               "trick", "secret", "rule", "plan", "hope", "risk", "catch", "downside", "upside", "benefit",
               "advantage", "solution", "step", "option", "choice"}
_YOURS = re.compile(r"\b(?:my|our)\b", re.I)


def _clause(tokens: list[Token], start: int, text: str) -> str | None:
    """The verb phrase from `start` to the first comma or the end: 3-14 words, no second clause."""
    end = start
    while end < len(tokens) and tokens[end].tag not in (",", ".", ":", "-LRB-", "``", "''") and \
            tokens[end].text.lower() not in ("then", "because", "so"):
        end += 1
    if end == len(tokens) or not 2 <= end - start <= 14 or tokens[end].tag != ",":
        return None  # a purpose clause is followed by a comma and the instruction
    if any(t.tag in ("VBD", "VBZ", "MD") for t in tokens[start + 1:end]) or needs_passage(tokens[start:end]):
        return None
    phrase = text[tokens[start].start:tokens[end - 1].end]
    return yours(phrase)


def how_question(tokens: list[Token], text: str) -> str | None:
    """A purpose clause or a "best way" sentence as the question it answers."""
    words = [t.text.lower() for t in tokens]
    if len(words) > 3 and words[0] == "to" and tokens[1].tag in ("VB", "VBP"):
        clause = _clause(tokens, 1, text)
        return f"How do you {clause}?" if clause else None
    if len(words) > 5 and words[0] in ("if", "when") and words[1] == "you" and words[2] in ("want", "need") \
            and words[3] == "to" and tokens[4].tag == "VB":
        clause = _clause(tokens, 4, text)
        return f"How do I {clause}?" if clause else None
    if len(words) > 5 and words[0] == "the" and tokens[1].tag in ("JJS", "JJ") and words[2] == "way" \
            and words[3] == "to" and tokens[4].tag in ("VB", "VBP", "NN"):
        end = next((k for k in range(5, min(len(tokens), 18)) if words[k] in ("is", "was")), None)
        if end is not None and end - 4 >= 2:
            phrase = _YOURS.sub("your", text[tokens[4].start:tokens[end - 1].end])
            return f"What's the {words[1]} way to {phrase}?"
    return None


def definition_question(tokens: list[Token], phrases: list[Phrase]) -> str | None:
    """"A dado is a square groove ..." -> "What is a dado?": the subject defined by "is a/an/the"."""
    if not phrases or phrases[0].start != tokens[0].start:
        return None
    subject = phrases[0]
    after = len(subject.tokens)
    if after + 1 >= len(tokens) or tokens[after].text.lower() not in ("is", "are") or \
            tokens[after + 1].text.lower() not in ("a", "an", "the", "one", "basically", "just", "simply"):
        return None
    head = next(t.text.lower() for t in reversed(subject.tokens) if t.tag in NOUNS)
    if head in NOT_DEFINED or head in LIGHT_NOUNS or len(subject.tokens) > 5 or needs_passage(subject.tokens):
        return None
    found = slot(subject)
    if found is None:
        return None
    return f"What {'are' if found.plural else 'is'} {found.text}?"


def subject_question(tokens: list[Token], phrases: list[Phrase]) -> str | None:
    """What the sentence says about its subject noun phrase, asked back: use, meaning, reason, comparison."""
    if not phrases or phrases[0].start != tokens[0].start or len(phrases[0].tokens) > 5 or \
            needs_passage(phrases[0].tokens):
        return None
    subject = slot(phrases[0])
    if subject is None or subject.head in NOT_DEFINED or subject.head in LIGHT_NOUNS:
        return None
    words = [t.text.lower() for t in tokens]
    at = len(phrases[0].tokens)
    rest = words[at:at + 6]
    be = "are" if subject.plural else "is"
    do = "do" if subject.plural else "does"
    if rest[:3] in (["is", "used", "to"], ["is", "used", "for"], ["are", "used", "to"], ["are", "used", "for"]):
        return f"What {be} {subject.text} used for?"
    if rest[:1] in (["lets"], ["let"], ["allows"], ["allow"]):
        return f"What {do} {subject.text} let you do?"
    if rest[:1] in (["means"], ["mean"]):
        return f"What {do} {subject.text} mean?"
    if rest[:2] in (["matters", "because"], ["matter", "because"]) or \
            (rest[:1] in (["is"], ["are"]) and len(rest) > 2 and rest[1] == "important" and rest[2] == "because"):
        return f"Why {do} {subject.text} matter?"
    if rest[:1] in (["is"], ["are"]) and len(tokens) > at + 2:
        k = at + 1 + (tokens[at + 1].tag == "RB")
        if k + 1 < len(tokens) and tokens[k].tag == "JJR" and words[k + 1] == "than":
            other = next((p for p in phrases if p.start == tokens[k + 2].start), None) if k + 2 < len(tokens) else None
            theirs = slot(other) if other else None
            if theirs:
                return f"Which is {words[k]}, {subject.text} or {theirs.text}?"
    return None


def use_question(tokens: list[Token], text: str, phrases: list[Phrase]) -> str | None:
    """"I use diamond plates for sharpening." -> "What do you use for sharpening?"."""
    words = [t.text.lower() for t in tokens]
    for i in range(min(4, len(words) - 3)):
        if words[i] in ("i", "we") and words[i + 1] in ("use", "used"):
            after = next((p for p in phrases if p.start == tokens[i + 2].start), None)
            if after is None:
                return None
            j = i + 2 + len(after.tokens)
            if j + 1 < len(tokens) and words[j] == "for":
                purpose = next((p for p in phrases if p.start == tokens[j + 1].start), None)
                target = slot(purpose) if purpose else None
                if target is None and tokens[j + 1].tag == "VBG":
                    end = j + 2
                    while end < len(tokens) and tokens[end].tag not in (",", ".", ":", "CC", "IN"):
                        end += 1
                    phrase = _YOURS.sub("your", text[tokens[j + 1].start:tokens[end - 1].end])
                    return f"What do you use for {phrase}?" if end - j - 1 <= 6 else None
                if target:
                    tense = "did" if words[i + 1] == "used" else "do"
                    return f"What {tense} you use for {target.text}?"
            return None
    return None
