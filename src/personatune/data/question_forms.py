"""Offline question forms: noun-phrase slots that read naturally, and first-person facts turned into questions.

Two kinds of question come out of here, both built on the part-of-speech tags of `pos`:
- slot questions for a whole segment ("What do you think about static typing?"), where the slot is
  a noun phrase of the answer, agreed in number with its verb, its "my" turned into "your";
- fact questions for one sentence ("I grew up in Duluth, Minnesota." -> "Where did you grow up?"):
  a first-person statement whose place, time, duration or object is specific becomes the question
  that sentence answers, asked with the person's own verb.
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
TIME_UNITS = {"year", "years", "month", "months", "week", "weeks", "day", "days", "decade", "decades", "summer",
              "summers", "semester", "semesters", "hour", "hours"}
MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"}
# Verbs that state a belief or an attitude, never a fact ("I think", "I know", "I want").
NOT_FACTS = {"think", "know", "say", "mean", "guess", "feel", "want", "need", "wonder", "hope", "believe",
             "suppose", "bet", "agree", "care", "wish", "remember", "forget", "like", "love", "hate", "see"}
# Light verbs: a fact only with a place, a time or a duration ("I went to Oslo in 2010"), never "What did you do?".
LIGHT_VERBS = {"be", "have", "do", "get", "go", "come", "try", "let", "look", "show", "talk", "tell", "call",
               "find", "keep", "make", "take", "put", "give", "use", "start"}
BE = {"am": "are", "'m": "are", "was": "were", "is": "are", "are": "are", "were": "were", "'s": "is"}
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
        candidates += [stem, stem + "e"]
    elif tag == "VBZ" and w.endswith("s"):
        candidates += [w[:-3] + "y"] if w.endswith("ies") else []
        candidates += [w[:-2], w[:-1]] if w.endswith("es") else [w[:-1]]
    elif tag == "VBG" and w.endswith("ing"):
        stem = w[:-3]
        candidates += [stem, stem + "e", stem[:-1] if len(stem) > 2 and stem[-1] == stem[-2] else stem]
    if not candidates:
        return w
    for candidate in candidates:
        if known(candidate):
            return candidate
    return candidates[0]


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


# ---------------------------------------------------------------- facts


def _words(tokens: list[Token], a: int, b: int, text: str) -> str:
    return text[tokens[a].start:tokens[b - 1].end] if b > a else ""


def _is_year(token: Token) -> bool:
    return token.tag == "CD" and bool(re.fullmatch(r"(1[89]|20)\d\d", token.text))


def _pp_kind(tokens: list[Token], i: int) -> str | None:
    """What the prepositional phrase at i names: place, time, duration, or None."""
    prep = tokens[i].text.lower()
    rest = tokens[i + 1:i + 6]
    if not rest:
        return None
    if prep == "for" and rest[0].tag == "CD" and len(rest) > 1 and rest[1].text.lower() in TIME_UNITS:
        return "duration"
    if prep in ("in", "on", "around", "during") and (_is_year(rest[0]) or rest[0].text.lower() in MONTHS
                                                      or (len(rest) > 1 and _is_year(rest[1]))):
        return "time"
    if prep in ("in", "at", "near", "to", "from") and rest[0].tag in NOUNS | {"DT"} and \
            any(t.tag in PROPER for t in rest[:5]) and rest[0].text.lower() not in {"the", "a"} | TIME_UNITS:
        return "place"
    if prep in ("at", "in") and rest[0].text.lower() == "the" and any(t.tag in PROPER for t in rest[1:5]):
        return "place"
    return None


def _clause_pps(tokens: list[Token], k: int) -> list[tuple[int, str]]:
    """(position, kind) of each place/time/duration phrase from k to the end of the clause."""
    out = []
    for p in range(k, len(tokens)):
        if tokens[p].tag in (",", ".", ":", "CC", "WRB", "WDT", "WP") or tokens[p].text.lower() in ("because", "when"):
            break
        if tokens[p].tag == "IN":
            kind = _pp_kind(tokens, p)
            if kind:
                out.append((p, kind))
    return out


def fact_question(tokens: list[Token], text: str, known) -> str | None:
    """The question this first-person sentence answers, or None if it states no specific fact."""
    words = [t.text.lower() for t in tokens]
    for s, w in enumerate(words[:6]):
        if w in ("i", "we") and tokens[s].tag == "PRP":
            return _subject_fact(tokens, s, text, known, "you")
        if w in ("my", "our") and tokens[s].tag == "PRP$":
            return _possessive_fact(tokens, s, text, known)
    return None


def _subject_fact(tokens: list[Token], s: int, text: str, known, you: str) -> str | None:
    i = s + 1
    while i < len(tokens) and tokens[i].tag == "RB" and tokens[i].text.lower() not in ("n't", "not", "never"):
        i += 1
    if i >= len(tokens):
        return None
    participle = None
    word = tokens[i].text.lower()
    if word in BE and i + 1 < len(tokens) and tokens[i + 1].tag == "VBN":
        aux, participle, verb_at = BE[word], tokens[i + 1].text.lower(), i + 1  # "I was born" -> "were you born"
    elif word in ("have", "'ve", "had") and i + 1 < len(tokens) and tokens[i + 1].tag == "VBN":
        aux, verb_at = ("have" if word != "had" else "had"), i + 1
    elif tokens[i].tag in ("VBD", "VBP") and word not in BE:
        aux, verb_at = ("did" if tokens[i].tag == "VBD" else "do"), i
    else:
        return None
    verb = tokens[verb_at]
    lemma = verb_lemma(verb.text, verb.tag, known)
    if participle is None and lemma in NOT_FACTS:
        return None
    return _ask(tokens, verb_at, aux, participle or (lemma if aux in ("did", "do") else verb.text.lower()),
                lemma, you, text)


def _ask(tokens: list[Token], verb_at: int, aux: str, phrase: str, lemma: str, subject: str, text: str) -> str | None:
    """The wh-question for `subject aux phrase [object]` from what follows the verb at verb_at."""
    j = verb_at + 1
    pronoun = ""
    if j < len(tokens) and tokens[j].text.lower() in ("me", "us"):
        pronoun, j = " you", j + 1
    particle = ""
    if j < len(tokens) and tokens[j].tag == "RP":
        particle, j = " " + tokens[j].text.lower(), j + 1
    k = j  # the object runs to the first preposition other than "of", a comma or the end
    while k < len(tokens) and (tokens[k].tag not in ("IN", ",", ".", ":", "CC", "TO", "WDT", "WP", "WRB")
                               or (tokens[k].text.lower() == "of" and k > j)):
        k += 1
    if k - j > 7 or any(t.tag in ("PRP", "VB", "VBD", "VBZ", "VBP", "MD") for t in tokens[j:k]):
        return None
    obj = _words(tokens, j, k, text)
    obj = re.sub(r"\b(?:my|our)\b", "your", obj, flags=re.I)
    if re.match(r"^(?:it|this|that|them|him|her|those|these|one|there|here)\b", obj, re.I):
        obj = ""
    elif obj and tokens[j].tag == "VBG" and k < len(tokens) and tokens[k].tag == "IN":
        end = _np_end(tokens, k + 1 + (k + 1 < len(tokens) and tokens[k + 1].tag == "PRP$"))
        if end > k + 1:  # "went looking for work": the gerund keeps its object
            obj = re.sub(r"\b(?:my|our)\b", "your", _words(tokens, j, end, text), flags=re.I)
            k = end
    asked = f"{aux} {subject} {phrase}{pronoun}{particle}" + (f" {obj}" if obj else "")
    pps = _clause_pps(tokens, k)
    kinds = [kind for _, kind in pps]
    if "place" in kinds:
        return f"Where {asked}?"
    if "time" in kinds:
        return f"When {asked}?"
    if "duration" in kinds:
        return f"How long {asked}?"
    head = tokens[k - 1] if k > j else None
    if head is not None and head.tag in PROPER and lemma not in LIGHT_VERBS and tokens[j].tag in NOUNS | {"DT", "JJ"}:
        return f"What {aux} {subject} {phrase}{pronoun}{particle}?"
    return None


def _np_end(tokens: list[Token], i: int) -> int:
    while i < len(tokens) and tokens[i].tag in NOUNS | {"DT", "JJ", "CD", "HYPH"}:
        i += 1
    return i


def _possessive_fact(tokens: list[Token], s: int, text: str, known) -> str | None:
    """"My first job was at Amazon." -> "What was your first job?"; "My parents moved us to Duluth." ->
    "Where did your parents move you?"."""
    end = _np_end(tokens, s + 1)
    if end == s + 1 or end >= len(tokens) or tokens[end - 1].tag not in NOUNS:
        return None
    subject = "your " + _words(tokens, s + 1, end, text)
    verb = tokens[end]
    rest = tokens[end + 1:]
    if verb.text.lower() in ("was", "is") and rest and (any(t.tag in PROPER for t in rest[:6])
                                                       or any(_is_year(t) or t.tag == "CD" for t in rest[:6])):
        return f"What {verb.text.lower()} {subject}?"
    if verb.tag == "VBD" and verb.text.lower() not in BE:
        lemma = verb_lemma(verb.text, verb.tag, known)
        if lemma in NOT_FACTS or not rest:
            return None
        return _ask(tokens, end, "did", lemma, lemma, subject, text)
    return None
