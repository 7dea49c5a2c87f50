"""Offline question forms: noun-phrase slots that read naturally, and stances read off the person's verbs.

Slot questions for a whole segment ("What do you think about static typing?"), built on the
part-of-speech tags of `pos`: the slot is a noun phrase of the answer, agreed in number with its
verb, its "my" turned into "your". Stance questions read the topic off the person's own verb of
opinion. Fact questions for one sentence live in `fact_questions`; the verb lemmas here serve both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from personatune.data.pos import NOUNS, PROPER, Phrase, Token

# Nouns too light to ask about on their own ("a lot", "the thing", "some way").
LIGHT_NOUNS = {"thing", "things", "lot", "lots", "way", "ways", "kind", "sort", "bit", "stuff", "time", "times",
               "one", "ones", "something", "anything", "everything", "nothing", "point", "part", "guy", "guys",
               "people", "folks", "yes", "okay", "um", "uh", "today", "question", "questions", "example", "video",
               "episode", "case", "fact", "end", "number", "day", "years", "year", "world"}
DROPPED_OPENERS = {"this", "that", "these", "those", "some", "any", "each", "every", "another", "all",
                   "such", "both", "either", "neither", "no", "what", "which", "whatever"}
OTHERS = {"his", "her", "their", "its", "whose"}
# English irregular past forms (past tense and participle) -> the verb.
IRREGULAR = {w: lemma for lemma, forms in {
    "arise": "arose arisen", "be": "was were been", "bear": "bore born borne", "beat": "beaten", "become": "became",
    "begin": "began begun", "bend": "bent", "bet": "bet", "bind": "bound", "bite": "bit bitten", "bleed": "bled",
    "blow": "blew blown", "break": "broke broken", "bring": "brought", "build": "built", "burn": "burnt",
    "buy": "bought", "catch": "caught", "choose": "chose chosen", "come": "came", "cost": "cost", "cut": "cut",
    "deal": "dealt", "dig": "dug", "do": "did done", "draw": "drew drawn", "drink": "drank drunk",
    "drive": "drove driven", "eat": "ate eaten", "fall": "fell fallen", "feed": "fed", "feel": "felt",
    "fight": "fought", "find": "found", "fly": "flew flown", "forget": "forgot forgotten", "freeze": "froze frozen",
    "get": "got gotten", "give": "gave given", "go": "went gone", "grow": "grew grown", "hang": "hung",
    "have": "had", "hear": "heard", "hide": "hid hidden", "hit": "hit", "hold": "held", "hurt": "hurt",
    "keep": "kept", "know": "knew known", "lay": "laid", "lead": "led", "learn": "learnt", "leave": "left",
    "lend": "lent", "let": "let", "lie": "lay lain", "lose": "lost", "make": "made", "mean": "meant", "meet": "met",
    "pay": "paid", "put": "put", "quit": "quit", "read": "read", "ride": "rode ridden", "ring": "rang rung",
    "rise": "rose risen", "run": "ran run", "say": "said", "see": "saw seen", "seek": "sought", "sell": "sold",
    "send": "sent", "set": "set", "shake": "shook shaken", "shoot": "shot", "show": "shown", "shut": "shut",
    "sing": "sang sung", "sink": "sank sunk", "sit": "sat", "sleep": "slept", "speak": "spoke spoken",
    "spend": "spent", "split": "split", "spread": "spread", "stand": "stood", "steal": "stole stolen",
    "stick": "stuck", "strike": "struck", "swim": "swam swum", "take": "took taken", "teach": "taught",
    "tear": "tore torn", "tell": "told", "think": "thought", "throw": "threw thrown", "understand": "understood",
    "wake": "woke woken", "wear": "wore worn", "win": "won", "write": "wrote written"}.items()
    for w in forms.split()}
_VOWEL = set("aeiou")


def verb_lemma(word: str, tag: str, known) -> str:
    """The verb's base form: irregular table, else suffix rules; `known(word)` says which candidate is a verb
    ("used" -> "us" is not one, "use" is)."""
    w = word.lower()
    if w in IRREGULAR and tag in ("VBD", "VBN"):
        return IRREGULAR[w]
    candidates: list[str] = []
    if tag in ("VBD", "VBN") and w.endswith("ed"):
        stem = w[:-2]
        if w.endswith("ied"):
            candidates.append(w[:-3] + "y")
        if len(stem) > 2 and stem[-1] == stem[-2] and stem[-1] not in "ls":
            candidates.append(stem[:-1])  # stopped -> stop
        # a silent e the suffix took: "celebrated", "devoted", "lived", "organized", "changed", "produced", "compiled"
        silent_e = re.search(r"(?:[^aeiou]at|[^aeiou]ot|ut|v|iz|yz|ang|c|ur|[^aeiou]il)$", stem) and not re.search(r"[aeiou]{2}t$", stem)
        candidates += [stem + "e", stem] if silent_e else [stem, stem + "e"]
    elif tag == "VBZ" and w.endswith("s"):
        candidates += [w[:-3] + "y"] if w.endswith("ies") else []
        sibilant = re.search(r"(?:ss|x|z|ch|sh|o)es$", w)  # "fixes", "goes"; but "saves", "strikes" keep the e
        candidates += ([w[:-2], w[:-1]] if sibilant else [w[:-1], w[:-2]]) if w.endswith("es") else [w[:-1]]
    elif tag == "VBG" and w.endswith("ing"):
        stem = w[:-3]
        candidates += [stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else stem]
    if not candidates:
        return w
    for candidate in candidates:
        if known(candidate):
            return candidate
    return candidates[0]


# Words that point back into the passage: a question holding one means nothing on its own.
POINTERS = {"it", "this", "that", "these", "those", "they", "them", "he", "she", "him", "her", "his", "its",
            "their", "here", "there", "such", "above", "below", "former", "latter", "same", "one", "ones",
            "theirs", "itself", "themselves", "himself", "herself", "else", "other", "something", "everything",
            "anything", "nothing", "someone", "everyone", "anyone", "somebody", "everybody", "anybody", "stuff"}


def points_back(tokens) -> bool:
    """A word that points back into the passage ("it", "these"; not "that" as a conjunction or "there" as a place
    adverb)."""
    return any(t.text.lower() in POINTERS and t.tag not in ("IN", "WDT", "RB") for t in tokens)


def needs_passage(tokens) -> bool:
    """Only the passage says what the words mean: a pointer ("How do you use it?") or a "the X" the passage
    introduced ("What is the fence?", "How do you set the radius?")."""
    tokens = list(tokens)
    return points_back(tokens) or any(t.text.lower() == "the" and context_bound(tokens, k) for k, t in enumerate(tokens))


def context_bound(tokens: list[Token], k: int) -> bool:
    """"the blank", "the legs", "the calculator": a definite common noun the passage had introduced, unless an
    "of" phrase or a name says which ("the University of Minnesota", "the Linux kernel")."""
    head = None
    for j in range(k + 1, len(tokens)):
        if tokens[j].tag in NOUNS:
            head = j
        elif tokens[j].tag not in ("JJ", "JJR", "JJS", "VBN", "VBG", "HYPH", "CD", "POS"):
            break
    if head is None:
        return False
    named = any(t.tag in ("NNP", "NNPS") or t.text[:1].isupper() for t in tokens[k + 1:head + 1])
    return not named and not (head + 1 < len(tokens) and tokens[head + 1].text.lower() == "of")


# ---------------------------------------------------------------- slots


@dataclass(frozen=True)
class Slot:
    text: str
    plural: bool
    proper: bool
    head: str


def slot(phrase: Phrase) -> Slot | None:
    """The phrase as it can stand in a question, or None where it cannot (a pronoun's, a light noun, too long)."""
    tokens = list(phrase.tokens)
    opener = tokens[0].text.lower() if tokens[0].tag in ("DT", "PRP$", "PDT") else ""
    if opener in OTHERS or tokens[-1].tag == "POS" or tokens[0].tag == "POS":
        return None
    of = next((n for n, t in enumerate(tokens) if t.text.lower() == "of"), None)
    if of is not None and any(t.text.lower() in LIGHT_NOUNS for t in tokens[:of]):
        return None  # "a lot of pitch", "the rest of the screws": the topic is elsewhere
    head_token = next(t for t in reversed(tokens) if t.tag in NOUNS)
    if head_token.text.lower() in LIGHT_NOUNS or len(head_token.text) < 3 or not re.search(r"[A-Za-z]", head_token.text):
        return None
    prefix = ""
    if opener in ("my", "our"):
        prefix, tokens = "your ", tokens[1:]
    elif opener in DROPPED_OPENERS or opener == "your":
        tokens = tokens[1:]
    if not tokens or len(tokens) > 6 or tokens[-1].tag == "CD" or (tokens[0].tag == "CD" and not phrase.proper):
        return None
    if tokens[0].text.lower() in ("a", "an", "the") and (len(tokens) == 1 or tokens[1].tag == "CD"):
        return None
    if any(not re.fullmatch(r"[\w'’.&+#-]+", t.text) for t in tokens):
        return None
    body = phrase.text[tokens[0].start - phrase.start:]
    first = tokens[0]
    if first.tag not in PROPER and first.text[:1].isupper() and (len(first.text) == 1 or first.text[1:].islower()):
        body = body[:1].lower() + body[1:]
    proper = any(t.tag in PROPER and t.text[:1].isupper() for t in tokens)
    return Slot(prefix + body, head_token.tag in ("NNS", "NNPS"), proper, head_token.text.lower())


def agree(template: str, s: Slot) -> str:
    """Fill {np}, choosing does/do, is/are, has/have by the slot's number."""
    out = template.replace("{np}", s.text)
    if s.plural:
        out = re.sub(r"\b(does|is|has|was)\b(?= " + re.escape(s.text) + r"\b)",
                     lambda m: {"does": "do", "is": "are", "has": "have", "was": "were"}[m.group(1)], out)
    return out[:1].upper() + out[1:]


# Phrasings that most passages about the phrase do answer; variety comes from the phrases.
SLOT_TEMPLATES: dict[str, list[str]] = {
    "background": ["Can you tell me about {np}?", "What's your experience with {np}?"],
    "story": ["What happened with {np}?", "Can you tell me about {np}?", "What's the story with {np}?"],
    "opinion": ["What do you think about {np}?", "What's your take on {np}?", "What's your view on {np}?"],
    "working_style": ["How do you approach {np}?", "How do you handle {np}?", "What's your approach to {np}?"],
    "values": ["Why does {np} matter to you?", "What's your view on {np}?", "Where do you stand on {np}?"],
    "instructional": ["Can you explain {np}?", "What should I know about {np}?", "Can you tell me about {np}?",
                      "How does {np} work?"],
    "process": ["Can you walk me through {np}?", "How do you go about {np}?"],
}


# A persona segment the offline writer finds nothing to ask about still trains, under its subtype's question.
PLAIN_PERSONA_QUESTIONS = {
    "background": "Can you tell me a bit about your background?",
    "story": "What's a story from your own life that you like to tell?",
    "opinion": "What's an opinion of yours that people might not expect?",
    "working_style": "How do you like to work?",
    "values": "What matters most to you in your work?",
}


STANCE = {"think": "What do you think about {np}?", "believe": "What do you believe about {np}?",
          "love": "What do you love about {np}?", "like": "What do you like about {np}?",
          "hate": "What's wrong with {np}, in your view?", "prefer": "Why do you prefer {np}?",
          "recommend": "Why do you recommend {np}?", "feel": "How do you feel about {np}?"}


def stance_question(tokens: list[Token], text: str, phrases: list[Phrase]) -> str | None:
    """"I think static typing is overrated" -> "What do you think about static typing?": the topic is the
    noun phrase right after the person's own verb of opinion."""
    for s in range(min(6, len(tokens))):
        if tokens[s].text.lower() != "i" or tokens[s].tag != "PRP":
            continue
        v = s + 1
        while v < len(tokens) and tokens[v].tag == "RB" and tokens[v].text.lower() not in ("n't", "not", "never"):
            v += 1
        if v >= len(tokens) or tokens[v].tag not in ("VBP", "VBD"):
            return None
        form = STANCE.get(verb_lemma(tokens[v].text, tokens[v].tag, STANCE.__contains__))
        if form is None:
            return None
        start = v + 1 + (v + 1 < len(tokens) and tokens[v + 1].text.lower() == "that")
        at = tokens[start].start if start < len(tokens) else -1
        found = next((slot(p) for p in phrases if p.start == at), None)
        return agree(form, found) if found else None
    return None


def role_after(tokens: list[Token], k: int, text: str) -> str | None:
    """The part the object plays for the person, as they name it right after it: "as my editor", "as our CI"."""
    if k + 2 >= len(tokens) or tokens[k].text.lower() != "as" or tokens[k + 1].text.lower() not in ("my", "our"):
        return None
    end = k + 2
    while end < len(tokens) and tokens[end].tag in NOUNS | {"JJ", "HYPH"}:
        end += 1
    if end == k + 2 or tokens[end - 1].tag not in NOUNS or tokens[end - 1].text.lower() in LIGHT_NOUNS \
            or end - k > 5:
        return None
    return text[tokens[k + 2].start:tokens[end - 1].end]


def owned(obj: list[Token]) -> bool:
    """"the tip of my left index finger", "the end of my first year": an "of" phrase with the person's own "my"
    says which, as a name would."""
    return any(t.text.lower() == "of" and n + 1 < len(obj) and obj[n + 1].text.lower() in ("my", "our")
               for n, t in enumerate(obj))
