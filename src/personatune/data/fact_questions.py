"""Fact questions: a first-person statement of something specific becomes the questions it answers.

"I was born in Gdańsk, in Poland, in 1987." answers "Where were you born?" and "When were you born?";
"My grandfather gave me his old Stanley plane." answers "What did your grandfather give you?";
"That was my first real tool.", after the sentence naming it, answers "What was your first real tool?".

Built on the part-of-speech tags of `pos`, without a parser: each clause whose subject is the person
("I", "we", "my grandfather") is read as subject, verb group, object and the prepositional phrases
after it. Every phrase that names a place, a time, a duration, a count or a specific thing (a proper
name, a number, or in a past-tense story an object of two or more words) is a question, asked with the
person's own verb. A clause that states a belief ("I think"), an intention or hypothesis ("I'll",
"I'd", "I plan to"), a negation, or leans on a pronoun ("I built it in 2015") is not read as a fact.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from personatune.data.pos import NOUNS, PROPER, Token
from personatune.data.question_forms import LIGHT_NOUNS, owned, role_after, verb_lemma

TIME_UNITS = {"year", "years", "month", "months", "week", "weeks", "day", "days", "decade", "decades", "summer",
              "summers", "semester", "semesters", "hour", "hours"}
MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
          "november", "december"}
# Verbs that state a belief or an attitude, never a fact ("I think", "I know", "I want").
NOT_FACTS = {"think", "know", "say", "mean", "guess", "feel", "want", "need", "wonder", "hope", "believe",
             "suppose", "bet", "agree", "care", "wish", "remember", "forget", "like", "love", "hate", "see",
             "promise", "figure", "plan", "expect", "try", "recommend", "suggest", "admit", "realize", "realise", "prefer",
             "enjoy"}
# Light verbs ask "what" only with someone they were done for ("gave me"); a place or a time is always a fact.
LIGHT_VERBS = {"be", "have", "do", "get", "go", "come", "try", "let", "look", "show", "talk", "tell", "call",
               "find", "keep", "make", "take", "put", "give", "use", "start", "need", "add", "check", "set"}
# Where a life happens: "Where did you grow up / live / work / study?" needs no object to mean something; "Where
# did you go?" does.
LIFE_VERBS = {"grow", "live", "work", "study", "train", "settle", "retire", "teach", "serve", "stay", "move", "bear",
              "raise", "graduate", "apprentice", "intern", "marry", "meet"}
# "My honest advice", "my opinion": a possessive subject that is a stance, not a fact about the person.
STANCE_NOUNS = {"advice", "opinion", "take", "view", "point", "guess", "answer", "question", "rule", "goal",
                "plan", "idea", "problem", "favorite", "favourite", "recommendation", "suggestion", "bet", "hope"}
BE = {"am": "are", "'m": "are", "was": "were", "is": "are", "are": "are", "were": "were", "'s": "is"}
HAVE = {"have": "have", "'ve": "have", "had": "had", "has": "have"}
NEGATIONS = {"n't", "not", "never", "no"}
MODALS = {"'ll", "'d", "will", "would", "could", "should", "might", "can", "may", "must", "shall"}
SUBORDINATORS = {"if", "when", "because", "that", "who", "which", "as", "while", "until", "unless", "since",
                 "whether", "than", "once", "before", "after", "where", "whenever", "how", "what", "why"}
NUMBER_WORDS = set("two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
                   "seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred "
                   "dozen".split())
CLAUSE_OPENERS = {"because", "if", "so", "than", "that", "though", "although", "unless", "whether", "while", "as"}
POINTERS = {"it", "this", "that", "them", "him", "her", "those", "these", "one", "there", "here", "they"}
WHEN = {"yesterday", "today", "tomorrow", "tonight", "now", "recently", "already", "once", "twice", "again",
        "ago", "last", "this", "every", "anyway"}
QUANTIFIERS = {"every", "each", "all", "some", "any", "no", "many", "most", "several", "few", "much", "more"}
CLAUSE_BREAKS = {",", ".", ":", ";", "CC", "WRB", "WDT", "WP"}


@dataclass(frozen=True)
class Asked:
    """A question a clause answers; `points_back` when the clause needs the sentence before it; `also`, the same
    question as people also ask it."""

    question: str
    kind: str
    points_back: bool = False
    also: tuple[str, ...] = ()  # the same question in other words ("What year were you born?")


def fact_questions(tokens: list[Token], text: str, known) -> list[Asked]:
    """Every question this sentence's first-person clauses answer, most specific kind first, no repeats."""
    def knows(word: str) -> bool:  # "loved" is "love" even where the tagger's lexicon calls "love" a noun
        return word in NOT_FACTS or word in LIGHT_VERBS or known(word)

    out: list[Asked] = []
    for s in _clause_starts(tokens):
        word = tokens[s].text.lower()
        if word in ("i", "we"):
            found = _subject_facts(tokens, s, text, knows)
        elif word in ("my", "our"):
            found = _possessive_facts(tokens, s, text, knows)
        else:
            found = _pointer_fact(tokens, s, text)
        for asked in found:
            if all(a.question != asked.question for a in out):
                out.append(asked)
    return out


def _clause_starts(tokens: list[Token]) -> list[int]:
    """Where a clause about the person begins: its subject opens the sentence (after a few words of
    preamble with no verb) or follows a comma or a conjunction, never a subordinator ("when I was")."""
    out = []
    for s, t in enumerate(tokens):
        w = t.text.lower()
        is_subject = (w in ("i", "we") and t.tag == "PRP") or (w in ("my", "our") and t.tag == "PRP$") or \
            (w in ("that", "it", "this") and s + 2 < len(tokens) and tokens[s + 1].text.lower() == "was"
             and tokens[s + 2].text.lower() in ("my", "our"))
        if not is_subject:
            continue
        before = tokens[s - 1] if s else None
        if before is not None and before.text.lower() in SUBORDINATORS:
            continue
        opens = s < 6 and not any(x.tag.startswith("VB") or x.tag == "MD" for x in tokens[:s])
        if opens or (before is not None and (before.text in (",", ";", ":") or before.tag == "CC")):
            out.append(s)
    return out


def _words(tokens: list[Token], a: int, b: int, text: str) -> str:
    return text[tokens[a].start:tokens[b - 1].end] if b > a else ""


def yours(phrase: str) -> str:
    """The person's words as the reader asks them back: "my" -> "your", "me" -> "you"."""
    return re.sub(r"\b(?:my|our)\b", "your", re.sub(r"\b(?:me|us)\b", "you", phrase, flags=re.I), flags=re.I)


def _named(token: Token) -> bool:
    """A name, by its tag or by its capital inside the object ("the Sway compositor", which the tagger calls NN)."""
    return token.tag in PROPER or (token.text[:1].isupper() and token.tag in NOUNS)


def is_number(token: Token) -> bool:
    """A count, as digits or a number word (which the tagger sometimes reads as a name: "twelve subscribers")."""
    return (token.tag == "CD" and not is_year(token)) or token.text.lower() in NUMBER_WORDS


def is_year(token: Token) -> bool:
    return token.tag == "CD" and bool(re.fullmatch(r"(1[89]|20)\d\d", token.text))


def pp_kind(tokens: list[Token], i: int) -> str | None:
    """What the prepositional phrase at i names: place, time, duration, or None."""
    prep = tokens[i].text.lower()
    rest = tokens[i + 1:i + 6]
    if not rest or (i > 0 and tokens[i].text[:1].isupper()):  # "I wrote In Memoriam": a title, not a place
        return None
    if prep == "for" and rest[0].tag == "CD" and len(rest) > 1 and rest[1].text.lower() in TIME_UNITS:
        return "duration"
    if prep in ("in", "on", "around", "during", "since") and (is_year(rest[0]) or rest[0].text.lower() in MONTHS
                                                               or (len(rest) > 1 and is_year(rest[1]))):
        return "time"
    if prep in ("in", "at", "near", "to", "from", "into"):
        # a place is named by its last noun: "at Lake Superior College", "in the Pacific Northwest", "at the
        # University of Minnesota"; "in the YouTube comments" and "into an apprenticeship" name no place
        j = i + 1
        while j < len(tokens) and (tokens[j].tag in NOUNS | {"DT", "JJ", "CD", "HYPH", "POS"}
                                   or (tokens[j].text.lower() == "of" and j + 1 < len(tokens)
                                       and tokens[j + 1].tag in PROPER | {"DT"})):
            j += 1
        named = [t for t in tokens[i + 1:j] if t.tag in NOUNS]
        if named and named[-1].tag in PROPER and rest[0].text.lower() not in {"a", "an"} | TIME_UNITS \
                and not is_year(named[-1]):
            return "place"
    return None


def clause_pps(tokens: list[Token], k: int) -> list[tuple[int, str]]:
    """(position, kind) of each place/time/duration phrase from k to the end of the clause."""
    out = []
    for p in range(k, len(tokens)):
        if tokens[p].tag in CLAUSE_BREAKS - {","} or tokens[p].text.lower() in SUBORDINATORS - {"that"} or \
                (tokens[p].text == "," and p + 1 < len(tokens) and tokens[p + 1].tag not in ("IN",)):
            break
        if tokens[p].tag == "IN":
            kind = pp_kind(tokens, p)
            if kind:
                out.append((p, kind))
    return out


def _pp_text(tokens: list[Token], p: int, text: str) -> str:
    """The prepositional phrase at p, to the next preposition or the clause's end."""
    e = p + 1
    while e < len(tokens) and tokens[e].tag not in CLAUSE_BREAKS | {"IN", "TO"}:
        e += 1
    return _words(tokens, p, e, text)


def _skip_adverbs(tokens: list[Token], i: int) -> int:
    while i < len(tokens) and tokens[i].tag == "RB" and tokens[i].text.lower() not in NEGATIONS:
        i += 1
    return i


def _subject_facts(tokens: list[Token], s: int, text: str, known) -> list[Asked]:
    i = _skip_adverbs(tokens, s + 1)
    if i >= len(tokens) or tokens[i].text.lower() in NEGATIONS | MODALS or tokens[i].tag == "MD":
        return []
    word = tokens[i].text.lower()
    nxt = _skip_adverbs(tokens, i + 1)
    following = tokens[nxt] if nxt < len(tokens) else None
    if following is not None and following.text.lower() in NEGATIONS:
        return []
    if word in BE:
        if following is not None and following.text.lower() == "from" and pp_kind(tokens, nxt) == "place":
            return [Asked(f"Where {BE[word]} you from?", "place")]
        if following is None or following.tag not in ("VBN", "VBG") or following.text.lower() in ("going", "been") \
                or (following.tag == "VBG" and BE[word] != "were"):
            return []  # "I was tired", "I'm going to", "I'm writing to you": no fact to ask for
        aux, verb_at, phrase = BE[word], nxt, following.text.lower()
    elif word in HAVE and following is not None and following.tag == "VBN":
        if following.text.lower() == "been":
            return []  # "I've been using": a state, asked for by its own words elsewhere
        aux, verb_at = HAVE[word], nxt
        phrase = following.text.lower()
        if phrase == "got":
            aux, phrase = "do", "have"  # "I've got three planes" -> "How many planes do you have?"
    elif tokens[i].tag in ("VBD", "VBP") and word not in BE and word not in ("'ve", "'d"):
        aux, verb_at = ("did" if tokens[i].tag == "VBD" else "do"), i
        phrase = verb_lemma(tokens[i].text, tokens[i].tag, known)
    else:
        return []
    lemma = verb_lemma(tokens[verb_at].text, tokens[verb_at].tag, known)
    if lemma in NOT_FACTS or (verb_at + 1 < len(tokens) and tokens[verb_at + 1].tag == "TO"
                              and verb_at + 2 < len(tokens) and tokens[verb_at + 2].tag == "VB"):
        return []  # a belief, or a verb of intention ("I used to", "I decided to"): not the fact itself
    return _ask(tokens, verb_at, f"{aux} you {phrase}", lemma, text, past=aux in ("did", "were", "had", "have"))


def _possessive_facts(tokens: list[Token], s: int, text: str, known) -> list[Asked]:
    """"My first job was at Amazon." -> "What was your first job?"; "My parents moved us to Duluth." ->
    "Where did your parents move you?"."""
    end = s + 1
    while end < len(tokens) and (tokens[end].tag in NOUNS | {"DT", "JJ", "CD", "HYPH"}
                                 or (tokens[end].tag == "," and end + 2 < len(tokens)
                                     and tokens[end + 1].tag in PROPER and tokens[end + 2].text == ",")):
        end += 1 + (tokens[end].tag == "," and 2 or 0)  # "My grandfather, Henryk, built..."
    heads = [t for t in tokens[s + 1:end] if t.tag in NOUNS]
    if not heads or end >= len(tokens) or heads[-1].text.lower() in STANCE_NOUNS | LIGHT_NOUNS:
        return []
    subject = "your " + _words(tokens, s + 1, end, text).replace(" ,", ",")
    verb_at = _skip_adverbs(tokens, end)
    if verb_at >= len(tokens) or tokens[verb_at].text.lower() in NEGATIONS | MODALS:
        return []
    verb = tokens[verb_at]
    rest = tokens[verb_at + 1:]
    if verb.text.lower() in ("was", "is", "'s") and rest:
        if rest[0].tag == "IN" and pp_kind(tokens, verb_at + 1) == "place":
            return [Asked(f"Where {verb.text.lower().replace(chr(39) + 's', 'is')} {subject}?", "place")]
        if any(t.tag in PROPER or t.tag == "CD" for t in rest[:6]) and not any(t.tag.startswith("VB") for t in rest[:2]):
            return [Asked(f"What {verb.text.lower().replace(chr(39) + 's', 'is')} {subject}?", "thing")]
        return []
    if verb.tag in ("VBD", "VBZ") and verb.text.lower() not in BE | HAVE:
        lemma = verb_lemma(verb.text, verb.tag, known)
        if lemma in NOT_FACTS or not rest:
            return []
        aux = "did" if verb.tag == "VBD" else "does"
        return _ask(tokens, verb_at, f"{aux} {subject} {lemma}", lemma, text, past=aux == "did")
    return []


def _pointer_fact(tokens: list[Token], s: int, text: str) -> list[Asked]:
    """"That was my first real tool." -> "What was your first real tool?", answered with the sentence before
    (past only: "this is my personal blog" is about the page it is on)."""
    end = s + 3
    while end < len(tokens) and tokens[end].tag in NOUNS | {"JJ", "JJS", "CD", "HYPH", "VBN"}:
        end += 1
    heads = [t for t in tokens[s + 3:end] if t.tag in NOUNS]
    if not heads or heads[-1].text.lower() in STANCE_NOUNS | LIGHT_NOUNS or end - s > 8:
        return []
    if end < len(tokens) and tokens[end].tag not in CLAUSE_BREAKS | {"IN", "TO"}:
        return []
    return [Asked(f"What was your {_words(tokens, s + 3, end, text)}?", "thing", points_back=True)]


def _ask(tokens: list[Token], verb_at: int, asked: str, lemma: str, text: str, past: bool) -> list[Asked]:
    """The questions for `asked [object]` from what follows the verb at verb_at."""
    j = verb_at + 1
    given = ""
    if j < len(tokens) and tokens[j].text.lower() in ("me", "us"):
        given, j = " you", j + 1
    particle = ""
    if j < len(tokens) and tokens[j].tag == "RP":
        particle, j = " " + tokens[j].text.lower(), j + 1
    k = j  # the object runs to the first preposition other than "of", a comma, a word of time or the end
    while k < len(tokens) and (tokens[k].tag not in CLAUSE_BREAKS | {"IN", "TO"}
                               or (tokens[k].text.lower() == "of" and k > j)) and tokens[k].text.lower() not in WHEN \
            and not (tokens[k].tag == "DT" and any(t.tag in NOUNS for t in tokens[j:k])):  # "a terminal a while ago"
        k += 1
    obj_tokens = tokens[j:k]
    if k - j > 7 or any(t.tag in ("PRP", "VB", "VBD", "VBZ", "VBP", "MD") for t in obj_tokens) or \
            (obj_tokens and obj_tokens[0].tag == "PRP$" and obj_tokens[0].text.lower() not in ("my", "our", "his", "her")):
        return []
    if obj_tokens and obj_tokens[0].text.lower() in POINTERS | {"the"} and not any(_named(t) for t in obj_tokens) \
            and not (obj_tokens[0].text.lower() == "the" and owned(obj_tokens)):
        return []  # "I built it in 2015", "I sanded the edge": what it is lives in another sentence
    obj = yours(_words(tokens, j, k, text))
    if obj_tokens and obj_tokens[0].tag == "VBG" and k < len(tokens) and tokens[k].tag == "IN":
        end = k + 1 + (k + 1 < len(tokens) and tokens[k + 1].tag == "PRP$")
        while end < len(tokens) and tokens[end].tag in NOUNS | {"DT", "JJ", "CD", "HYPH"}:
            end += 1
        if end > k + 1:  # "went looking for work": the gerund keeps its object
            obj, k = yours(_words(tokens, j, end, text)), end
    head = f"{asked}{given}{particle}"
    role = role_after(tokens, k, text) if obj_tokens else None
    if role and not past:
        return [Asked(f"What {role} {head}?", "thing")]  # "I use Vim as my editor" -> "What editor do you use?"
    nouns = [t for n, t in enumerate(obj_tokens)  # "mechanical engineering": a gerund after a modifier is a noun
             if (t.tag in NOUNS or (t.tag == "VBG" and n > 0)) and not is_number(t)]
    light = [t for n, t in enumerate(obj_tokens) if t.text.lower() in LIGHT_NOUNS - TIME_UNITS
             and not (n + 1 < len(obj_tokens) and is_number(obj_tokens[n + 1]))]  # "number five" names a thing
    if light or (obj_tokens and not nouns) or \
            (obj_tokens and obj_tokens[-1] not in nouns and not is_number(obj_tokens[-1])):
        return []  # "I talked my way into...", "I spent a lot of time", "websites related": no thing to ask for
    out: list[Asked] = []
    pps = clause_pps(tokens, k)
    opening = next((t for t in obj_tokens if not t.tag.startswith("RB")), None)  # "almost a month"
    if opening is not None and (is_number(opening) or opening.text.lower() in ("a", "an")) and nouns \
            and nouns[-1].text.lower() in TIME_UNITS:
        return []  # "I lasted two years", "I spent a week in Montreal": how long, but of what, the asker cannot know
    if past and obj_tokens and obj_tokens[0].text.lower() in {"a", "an"} | QUANTIFIERS:
        pps = [(p, kind) for p, kind in pps if kind != "place"]  # "Where did you meet many of the developers?"
    alone = bool(obj or particle or given) or _stands_alone(tokens, verb_at)
    full = f"{head} {obj}".rstrip()
    place = next((p for p, kind in pps if kind == "place"), None)
    for kind in ("place", "time", "duration"):
        if any(found == kind for _, found in pps):
            if not alone or (kind == "place" and past and not obj and not particle and lemma not in LIFE_VERBS):
                continue  # "Where did you use?": a verb that needs its object; "Where did you go?": which time?
            where = f" {yours(_pp_text(tokens, place, text))}" if kind == "duration" and place is not None else ""
            opener = {"place": "Where", "time": "When", "duration": "How long"}[kind]
            out.append(Asked(f"{opener} {full}{where}?", kind, also=_rephrased(tokens, pps, kind, f"{full}{where}")))
    if obj_tokens and is_number(obj_tokens[0]) and nouns and nouns[-1].tag == "NNS" and \
            nouns[-1].text.lower() not in TIME_UNITS:
        counted = _words(tokens, tokens.index(nouns[0]), k, text)
        out.append(Asked(f"How many {counted} {head}{_context(tokens, k, text)}?", "count"))
    elif nouns and (obj_tokens[-1].tag in NOUNS or is_number(obj_tokens[-1])) and \
            (lemma not in LIGHT_VERBS or given) and nouns[-1].text.lower() not in TIME_UNITS and \
            obj_tokens[0].text.lower() not in QUANTIFIERS and \
            not any(t.tag.startswith("RB") for t in obj_tokens) and \
            any(_named(t) for t in obj_tokens):
        # a one-off event ("What saw did you buy?", "What feature did you deploy?") means nothing to someone who
        # has not read the passage (rated so on three archives, bench/fact_pairs.py); a habit or a state does
        thing = None if obj_tokens[0].tag == "VBG" or past else _thing_question(tokens, obj_tokens, k, head, text)
        if thing:
            out.append(Asked(thing, "thing"))
    return out[:2]


def _context(tokens: list[Token], k: int, text: str) -> str:
    """The phrase right after the object, which says when or what for ("after the first month", "on my laptop"),
    as the question would say it; empty if none."""
    if k >= len(tokens) or tokens[k].tag != "IN" or tokens[k].text.lower() in CLAUSE_OPENERS:
        return ""
    e = k + 1  # one or two prepositional phrases: "for use at home"
    while e < len(tokens) and tokens[e].tag not in CLAUSE_BREAKS | {"TO", "VB", "VBD", "VBZ", "VBP", "MD", "PRP"} \
            and tokens[e].text.lower() not in CLAUSE_OPENERS:
        e += 1
    phrase = _words(tokens, k, e, text)
    return f" {yours(phrase)}" if 1 < len(phrase.split()) <= 5 else ""


def _thing_question(tokens: list[Token], obj: list[Token], k: int, head: str, text: str) -> str | None:
    """"What do you use?" means little on its own: the object's own noun says what kind of thing ("I teach a
    beginner woodworking class" -> "What class do you teach?"), or what follows it says what for ("I run FreeRDP
    on my laptop" -> "What do you run on your laptop?")."""
    kind = []
    for t in reversed(obj):  # the common nouns ending the object, as written: "blog post", "saw", "GPU"
        if t.tag not in ("NN", "NNS", "VBG") or t is obj[0] or t.text.lower() in LIGHT_NOUNS or not t.text.replace("-", "").isalpha() \
                or not (t.text.islower() or t.text.isupper()):
            break
        kind.insert(0, t.text)
    if kind:
        return f"What {' '.join(kind[-2:])} {head}?"
    context = _context(tokens, k, text)
    return f"What {head}{context}?" if context else None


def _rephrased(tokens: list[Token], pps: list[tuple[int, str]], kind: str, asked: str) -> tuple[str, ...]:
    """Other words people use for a time or a duration question: a year is "what year", years are "how many
    years" ("When were you born?" / "What year were you born?")."""
    at = next(p for p, found in pps if found == kind)
    rest = tokens[at:at + 4]
    if kind == "time" and any(is_year(t) for t in rest) and not any(t.text.lower() in MONTHS for t in rest):
        return (f"What year {asked}?", f"In what year {asked}?")
    if kind == "duration" and any(t.text.lower() == "years" for t in rest):
        return (f"How many years {asked}?",)
    return ()


def _stands_alone(tokens: list[Token], verb_at: int) -> bool:
    """A verb asked about without an object: a participle ("were you born"), or a verb followed directly by
    its place or time phrase ("I grew up in Duluth", "I worked at Amazon")."""
    verb = tokens[verb_at]
    after = tokens[verb_at + 1] if verb_at + 1 < len(tokens) else None
    return verb.tag in ("VBN", "VBG") or (after is not None and after.tag == "IN")
