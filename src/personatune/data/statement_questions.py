"""A statement asked back: the yes/no question that the person's own sentence answers.

"Being Vim literate is a valuable skill, but ..." -> "Is being Vim literate a valuable skill?";
"I don't use an IDE for Rust." -> "Do you use an IDE for Rust?"; "I sand it by hand." points back and gives
nothing, and neither does a generic "you" ("You can use the -v flag ..." asked back as "Can I ...?").

The question keeps the sentence's own words from its subject to the first clause break, so the answer that
holds the sentence answers it by construction, whatever the archive's domain. Built on the part-of-speech
tags of `pos`, without a parser: the subject is a personal pronoun, a noun phrase or a gerund phrase that
opens the sentence (after a short preamble with no verb); the verb group after it is inverted (an auxiliary
moves in front) or takes "do" (a main verb). Persons swap as a reader asks: I -> you, and a "you" after
the subject -> I or me.
A subject or an object that points back into the text ("it", "this", "they") gives no question.
"""

from __future__ import annotations

import re

from personatune.data.fact_questions import STANCE_NOUNS, yours
from personatune.data.pos import NOUNS, Token, noun_phrases
from personatune.data.question_forms import (
    IRREGULAR,
    LIGHT_NOUNS,
    POINTERS,
    context_bound,
    points_back,
    verb_lemma,
)
from personatune.data.retrieval import terms

# Discourse words that tie a sentence to the one before; the question starts after them.
OPENERS = {"and", "but", "so", "well", "now", "also", "plus", "okay", "ok", "yeah", "yes", "honestly", "anyway",
           "then", "or", "because", "oh", "right", "alright", "like", "again", "still", "besides", "basically"}
# Fillers that a question leaves out ("I actually really like it" -> "Do you like it?").
FILLERS = {"actually", "basically", "literally", "really", "honestly", "definitely", "obviously", "certainly",
           "totally", "truly", "simply", "clearly", "surely", "personally", "genuinely", "also", "too", "probably",
           "possibly", "perhaps", "maybe"}
# Verbs of thinking and saying: the sentence is about a thought, which `stance_question` asks for by its topic.
MIND_VERBS = {"think", "thinks", "thought", "believe", "believes", "believed", "know", "knows", "knew", "guess",
              "suspect", "suspects", "remember", "remembers", "mean", "means", "meant", "say", "says", "said",
              "wonder", "wondered", "suppose", "bet", "feel", "feels", "felt", "want", "wants", "wanted", "hope",
              "hoped", "wish", "expect", "expected", "figure", "figured", "imagine", "realize", "realized"}
# Time and place words that only the passage's own moment gives a meaning to.
DEICTIC = {"here", "yesterday", "today", "tomorrow", "tonight", "above", "below", "lately", "currently"}
# Adverbs of the moment a question leaves out ("Did you just buy ...", "It finally works").
MOMENT = {"just", "finally", "still", "already", "recently", "now", "again", "even", "soon"}
TIME_NOUNS = {"week", "month", "year", "time", "night", "morning", "weekend", "summer", "winter", "spring", "fall",
              "quarter", "release", "episode", "video", "post", "article", "chapter", "section"}
CONTENT = NOUNS | {"JJ", "JJR", "JJS", "VB", "VBG", "VBN", "VBD", "VBZ", "VBP", "CD", "RB"}
BE_FORMS = {"am", "'m", "is", "'s", "are", "'re", "was", "were"}
HAVE_FORMS = {"have", "'ve", "has", "had", "'d"}
INTRODUCERS = {"when", "if", "after", "before", "since", "because", "while", "although", "though", "once", "as",
               "until", "whenever", "unless"}
MODAL_FORMS = {"'d": "would", "can": "can", "cannot": "can", "ca": "can", "could": "could", "will": "will", "'ll": "will", "wo": "will",
               "would": "would", "should": "should", "might": "might", "may": "may", "must": "must",
               "shall": "shall", "sha": "shall"}
DO_FORMS = {"do", "does", "did"}
NEGATIONS = {"n't", "not"}
# Swapping persons: the person's words to the reader's question, and the reader's "you" to "I".
FIRST_TO_SECOND = {"i": "you", "me": "you", "my": "your", "mine": "yours", "myself": "yourself", "we": "you",
                   "us": "you", "our": "your", "ours": "yours", "ourselves": "yourselves"}
SECOND_TO_FIRST = {"your": "my", "yours": "mine", "yourself": "myself", "yourselves": "ourselves"}
CLAUSE_ENDS = {".", "!", "?", ":", ";", "-LRB-", "``", "''", "(", ")", '"'}
CUT_WORDS = {"because", "since", "although", "though", "while", "whereas", "unless", "which", "who", "whom",
             "whose", "where", "so", "but", "and", "or", "if", "when", "until", "before", "after", "as",
             "etc", "e.g", "i.e"}
# Verbs too light to carry a question's content ("Will I have to be comfortable?").
LIGHT = {"be", "is", "are", "was", "were", "been", "being", "have", "has", "had", "do", "does", "did", "get", "got",
         "gets", "go", "goes", "went"}
RELATIVES = {"who", "which", "whom", "whose", "where", "that"}
MIN_WORDS, MAX_WORDS = 4, 14


def statement_question(tokens: list[Token], text: str, known, names=None) -> str | None:
    """The yes/no question this declarative sentence answers, or None when it has no clean subject and verb,
    or the question would point back into the passage; `known(word)` says whether a word is a verb,
    `names(word)` whether a capitalised first word is a name (else it is lower-cased in the question)."""
    if any(t.text in ('"', "“", "”", "``", "''") for t in tokens):
        return None  # quoted words are someone else's
    s = _subject_start(tokens)
    if s is None:
        return None
    subject, v = _subject(tokens, s, text, names)
    if subject is None:
        return None
    between: list[Token] = []
    while v < len(tokens) and tokens[v].tag == "RB" and tokens[v].text.lower() not in NEGATIONS | {"never"}:
        between.append(tokens[v])
        v += 1
    if v >= len(tokens):
        return None
    word, tag = tokens[v].text.lower(), tokens[v].tag
    pronoun = subject.lower()
    rest_at = v + 1
    if pronoun in ("you", "i") and (word in ("will", "'ll") or word in BE_FORMS and v + 2 < len(tokens)
                                    and tokens[v + 1].text.lower() == "going" and tokens[v + 2].text.lower() == "to"):
        return None  # "I'll show you", "we're going to cut", "you'll be heading to": the video narrating itself
    if pronoun == "there" and (v + 1 >= len(tokens) or tokens[v + 1].text.lower() in ("no", "not", "n't", "like")):
        return None  # "There's no easy solve" asks nothing
    if word in MIND_VERBS or (word in BE_FORMS | set(MODAL_FORMS) | DO_FORMS and v + 1 < len(tokens) and
                              tokens[v + 1].text.lower() in MIND_VERBS):
        return None  # "I think from a distribution perspective": what they think is a stance question's job
    if word in BE_FORMS and not (word == "'s" and _has_perfect(tokens, v + 1)) and \
            not (word == "'d" or word in HAVE_FORMS):
        aux = _be(word, pronoun)
    elif word in MODAL_FORMS and tag in ("MD", "VBD", "VBP", "NN", "VB"):
        aux = MODAL_FORMS[word]
        if aux in ("may", "might", "must"):
            return None  # "You may have to refactor" asked back is "May you have to refactor?": no one asks so
    elif word in HAVE_FORMS | {"'s"} and _has_perfect(tokens, v + 1):
        aux = {"'ve": "have", "'s": "has", "'d": "had"}.get(word, word)
        aux = "have" if pronoun == "you" and aux == "has" else aux
        aux = "has" if pronoun != "you" and aux == "have" and not _plural(tokens, s, v) else aux
    elif word in DO_FORMS and tag in ("VBD", "VBP", "VBZ") and _verb_follows(tokens, v + 1):
        aux = "do" if word == "do" and pronoun == "you" else word
    elif tag in ("VBZ", "VBP", "VBD", "VBN") and word not in HAVE_FORMS | {"'d", "'s"} or (word in ("have", "has", "had")):
        tag = "VBD" if tag == "VBN" else tag  # right after its subject, "built" is the past tense
        aux = {"VBZ": "does", "VBP": "do", "VBD": "did"}.get(tag, "does" if word == "has" else "did" if word == "had"
                                                           else "do")
        lemma = "have" if word in ("have", "has", "had") else verb_lemma(tokens[v].text, tag, known)
        verb = Token(lemma, tokens[v].start, tokens[v].end, "VB")
        return _assemble(aux, subject, between, [verb] + tokens[v + 1:], text, first_token=verb)
    else:
        return None
    return _assemble(aux, subject, between, tokens[rest_at:], text)


def _subject_start(tokens: list[Token]) -> int | None:
    """Past the discourse words and a short verbless preamble ending in a comma ("In many fields, ...")."""
    i = 0
    label = next((k for k in range(min(len(tokens), 4)) if tokens[k].text == ":"), None)
    if label is not None and not any(t.tag.startswith("VB") for t in tokens[:label]):
        i = label + 1  # "Cons: ...", "Update: ..."
    while i < len(tokens) and (tokens[i].text.lower() in OPENERS or tokens[i].text == "," or
                               tokens[i].tag == "RB" and tokens[i].text.lower() not in NEGATIONS):
        i += 1  # "And", "Currently", "Of course,"...
    comma = next((k for k in range(i, min(len(tokens), i + 8)) if tokens[k].text == ","), None)
    if comma is not None and not any(t.tag.startswith("VB") or t.tag == "MD" or t.text.lower() in ("i", "you", "we")
                                     for t in tokens[i:comma]):
        i = comma + 1
    elif i < len(tokens) and tokens[i].text.lower() in INTRODUCERS:
        # "When I was tired and rushing, I bought a flesh-sensing saw.": the main clause after the comma
        comma = next((k for k in range(i, min(len(tokens), i + 14)) if tokens[k].text == ","), None)
        if comma is None:
            return None
        i = comma + 1
    return i if i < len(tokens) - 2 else None


def _subject(tokens: list[Token], s: int, text: str, names) -> tuple[str | None, int]:
    """The subject's words, as the reader would say them, and where its verb starts."""
    first = tokens[s]
    low = first.text.lower()
    if low in ("i", "we") and first.tag == "PRP":
        return ("you", s + 1)
    if low == "you" and first.tag == "PRP":
        return (None, s)  # a generic "you" asked back as "Do I ...?" reads as no one's question (rated 0 of 18)
    if low == "it" and s + 3 < len(tokens) and tokens[s + 1].text.lower() in ("is", "'s", "was") and \
            tokens[s + 2].tag in ("JJ", "JJR", "RB") and tokens[s + 3].text.lower() in ("to", "that", "for"):
        return ("it", s + 1)  # "It's important to ..." has no antecedent to point back to
    if low == "there" and s + 1 < len(tokens) and tokens[s + 1].text.lower() in ("is", "are", "'s", "was", "were"):
        return ("there", s + 1)  # "There are a few principles I use" -> "Are there a few principles you use?"
    if low in POINTERS or first.tag in ("PRP", "EX", "WDT", "WP", "WRB", "IN", "CC", "TO", "MD") or \
            first.tag.startswith("VB") and first.tag != "VBG":
        return (None, s)
    phrases = [p for p in noun_phrases(tokens, text) if p.start >= first.start]
    end = None
    if first.tag == "VBG":  # "Being Vim literate", "Writing tests first": a gerund phrase up to its verb
        end = s + 1
        while end < len(tokens) and end - s <= 10 and not (tokens[end].tag in ("VBZ", "VBD", "MD") or
                                                          tokens[end].text.lower() in ("is", "was", "'s")):
            if tokens[end].tag in CLAUSE_ENDS or tokens[end].text == ",":
                return (None, s)
            end += 1
    elif phrases and phrases[0].start == first.start:
        end = s + len(phrases[0].tokens)
        # "My grandfather built wooden boats": a participle after the head noun is the verb the chunker took in
        end = next((j for j in range(s + 1, end) if tokens[j].tag == "VBN" and tokens[j - 1].tag in NOUNS), end)
    if end is None or end >= len(tokens) or end - s > 10:
        return (None, s)
    words = tokens[s:end]
    if words[0].text.lower() in POINTERS or any(t.text.lower() in ("his", "her", "their", "its") for t in words):
        return (None, s)
    heads = [t.text.lower() for t in words if t.tag in NOUNS]
    if heads and (heads[-1] in STANCE_NOUNS or heads[-1] in LIGHT_NOUNS) and len(heads) == 1:
        return (None, s)  # "My rule is simple", "The thing is": a stance or a light noun, nothing to ask about
    if words[0].text.lower() == "the" and context_bound(words, 0):
        return (None, s)  # "The battery could last ...": which battery?
    said = _spaced(_swap(words, subject=True), words)
    name = names(words[0].text) if names is not None else words[0].tag in ("NNP", "NNPS")
    if said and not name and not (words[0].text.isupper() and len(words[0].text) > 1):
        said = said[:1].lower() + said[1:]
    return (said, end)


def _assemble(aux: str, subject: str, between: list[Token], rest: list[Token], text: str,
              first_token: Token | None = None) -> str | None:
    kept: list[Token] = []
    cut: Token | None = None
    for k, t in enumerate(rest):
        low = t.text.lower()
        glued = k + 1 < len(rest) and rest[k + 1].start == t.end and t.text in (".", "-", "/")  # "sr.ht"
        joins_nouns = low in ("and", "or") and kept and kept[-1].tag in NOUNS | {"JJ"} and k + 1 < len(rest) and \
            rest[k + 1].tag in NOUNS | {"JJ", "CD"}  # "for C and Go", "free and open-source software": one object
        if (t.tag in CLAUSE_ENDS or t.text in CLAUSE_ENDS) and not glued or low in CUT_WORDS and k > 0 and \
                not joins_nouns or \
                (t.text == "," and len(kept) >= 1) or t.text in ("--", "—", "–", "&") or t.text == "-" and not glued:
            cut = t
            break
        if t.text == ",":
            return None  # a comma right after the verb: an aside, not an object
        if low in NEGATIONS and k <= 1:
            continue
        kept.append(t)
    if not kept or points_back(kept):
        return None
    if kept[0].tag in ("WRB", "WP") or any(t.tag == "MD" or t.text.lower() in BE_FORMS and t.tag != "POS" for t in kept) or \
            re.search(r"\bto (?:note|mention|say|add|point out)\b", " ".join(t.text.lower() for t in kept)):
        return None  # "Is Borg how data is backed up?", "Did shellac soak rags should go ...", "Is it worth noting"
    if cut is not None and (cut.text.lower() in RELATIVES and len(kept) < 4 or  # "Do you encourage people?"
                            cut.tag in NOUNS and kept[-1].tag in ("JJ", "VBN", "VBG") or  # a mis-tagged phrase
                            cut.text.lower() in ("and", "or") and kept[-1].tag in ("VB", "VBP")):  # "to identify"
        return None
    if not _stands_alone(subject, kept):
        return None
    if subject == "you" and any(t.text.lower() in ("you", "your", "yours", "yourself") for t in kept):
        return None  # the person talking to the reader ("I'll see you next month") asks nothing of them
    said_subject = [w for w in subject.split() if w.lower() not in ("i", "you", "it")]
    if sum(t.tag in CONTENT and t.text.lower() not in LIGHT for t in kept) + len(said_subject) < 2 or \
            kept[-1].tag in ("DT", "IN", "CC", "TO", "PRP$", "MD", "POS") or kept[-1].text.lower() in LIGHT:
        return None
    said = _swap(kept, subject=False)
    if first_token is not None:
        said[0] = first_token.text
    pairs = [("ever" if w.lower() == "never" else w, t) for w, t in zip(said, kept)
             if t.text.lower() not in FILLERS and not (t.text.lower() in MOMENT and t.tag == "RB")]
    adverbs = [t.text for t in between if t.text.lower() not in FILLERS | MOMENT and t.text.lower() != "never"]
    question = " ".join([aux.capitalize(), subject, *adverbs]) + " " + _spaced([w for w, _ in pairs],
                                                                            [t for _, t in pairs])
    question = _articles(question + "?")
    n = len(question.split())
    if len(terms(question)) < (2 if subject == "you" else 3):
        return None  # "Is there another model?", "Are the good parts numerous?": too little to mean anything
    return question if MIN_WORDS <= n <= MAX_WORDS else None


def _articles(question: str) -> str:
    """"a"/"an" to the word that now follows it, once a filler between them is gone ("an even heavier" ->
    "a heavier")."""
    question = re.sub(r"\b([Aa])n (?!hon|hour|heir|herb)([bcdfghjklmnpqrstvwxz][a-z])", r"\1 \2", question)
    return re.sub(r"\b([Aa]) ([aei][a-z])", r"\1n \2", question)


def _stands_alone(subject: str, kept: list[Token]) -> bool:
    """Would the question mean something to a reader who has not seen the passage? Not with "here",
    "yesterday" or "last week", a bare figure ("281 pixels", "every 15 minutes": only the answer knows it), or
    "the calculator"."""
    words = [t.text.lower() for t in kept] + subject.lower().split()
    if any(w in DEICTIC for w in words):
        return False
    for k, t in enumerate(kept):
        low = t.text.lower()
        if low in ("last", "next", "every") and k + 1 < len(kept) and kept[k + 1].text.lower() in TIME_NOUNS:
            return False
        if t.tag == "CD" and not (k and kept[k - 1].tag in ("NNP", "NNPS")):
            return False
        if low == "the" and context_bound(kept, k):
            return False
    return True


def _swap(tokens: list[Token], subject: bool) -> list[str]:
    """Each word as the reader says it: "my" -> "your", "you" -> "I" (a subject) or "me"."""
    out = []
    for k, t in enumerate(tokens):
        low = t.text.lower()
        if low in FIRST_TO_SECOND and (t.tag.startswith("PRP") or low == "us"):
            out.append(FIRST_TO_SECOND[low])
        elif low == "you" and t.tag == "PRP":
            verb_next = k + 1 < len(tokens) and (tokens[k + 1].tag.startswith("VB") or tokens[k + 1].tag == "MD")
            out.append("I" if subject or verb_next else "me")
        else:
            word = SECOND_TO_FIRST.get(low, t.text)
            if out and out[-1] == "you" and low in ("am", "'m", "was"):
                word = {"am": "are", "'m": "'re", "was": "were"}[low]  # "how busy I am" -> "how busy you are"
            out.append(word)
    return out


def _spaced(words: list[str], tokens: list[Token]) -> str:
    """The words, spaced as their tokens were in the text ("sr.ht", "-v" stay whole)."""
    out, previous = "", None
    for word, t in zip(words, tokens):
        out += word if previous is None or previous.end == t.start else " " + word
        previous = t
    return out


def _be(word: str, subject: str) -> str:
    past = word in ("was", "were")
    if subject == "you":
        return "were" if past else "are"
    if word in ("'re", "are", "were"):
        return "were" if past else "are"
    return "was" if past else "is"


def _has_perfect(tokens: list[Token], i: int) -> bool:
    while i < len(tokens) and tokens[i].tag == "RB":
        i += 1
    return i < len(tokens) and (tokens[i].tag == "VBN" or tokens[i].text.lower() == "been")


def _verb_follows(tokens: list[Token], i: int) -> bool:
    while i < len(tokens) and (tokens[i].tag == "RB" or tokens[i].text.lower() in NEGATIONS):
        i += 1
    return i < len(tokens) and tokens[i].tag in ("VB", "VBP")


def _plural(tokens: list[Token], s: int, v: int) -> bool:
    heads = [t for t in tokens[s:v] if t.tag in NOUNS]
    return bool(heads) and heads[-1].tag in ("NNS", "NNPS")


WH = {"what", "why", "how", "where", "when", "which", "who", "is", "are", "do", "does", "did", "can", "should",
      "would", "could", "will"}


def asked_in_text(tokens: list[Token]) -> str | None:
    """A question the person asks and then answers ("What are founding creators? Creators who ..."), as the
    reader would ask it: their "I" and "we" become "you"; one that points back into the text gives None."""
    words = list(tokens)
    while words and words[0].text.lower() in OPENERS | {","}:
        words = words[1:]
    if not words or words[-1].text != "?" or words[0].text.lower() not in WH or \
            not MIN_WORDS <= len(words) - 1 <= 16:
        return None
    if points_back(words) or \
            any(t.text.lower() in MIND_VERBS | {"say", "tell"} for t in words[1:4]):
        return None  # "Do I want to lose it?", "Do you say oh?": rhetorical, asked of the audience
    said = [FIRST_TO_SECOND.get(t.text.lower(), t.text) if t.tag.startswith("PRP") else t.text for t in words[:-1]]
    question = _spaced(said, words[:-1]) + "?"
    if len(terms(question)) < 2:
        return None
    return question[:1].upper() + question[1:]


_TITLE = [
    (re.compile(r"^(How|Why|What|Where|When) I ([a-z]+)\b(.*)$"), "{0} do you {1}{2}?"),  # "Why I use Vim"
    (re.compile(r"^I(?:'m| am) (.+)$"), "Are you {0}?"),  # "I'm launching a course"
    (re.compile(r"^Should (?:you|I) (.+)$"), "Should I {0}?"),  # "Should you move from GitHub to sr.ht"
    (re.compile(r"^My ([^,:;!?]{3,40})$"), "Can you tell me about your {0}?"),  # "My unorthodox git workflow"
]


def title_question(title: str) -> str | None:
    """The question a post or video title asks for its whole text, where the title is phrased as one: "How I
    maintain FOSS projects" -> "How do you maintain FOSS projects?"; other titles ask nothing."""
    title = " ".join((title or "").split()).rstrip(".")
    if not 2 <= len(title.split()) <= 12 or re.search(r"\d|:|\bthis\b|\bthat\b", title, re.I):
        return None
    if title.endswith("?") and title.split()[0].lower() in WH:
        return title
    for pattern, form in _TITLE:
        m = pattern.match(title)
        if not m:
            continue
        mine = [yours(g or "") for g in m.groups()]
        if form.startswith("{0} do"):
            verb = mine[1]
            if verb in IRREGULAR:  # "Why I chose Flask" -> "Why did you choose Flask?"
                form, mine[1] = "{0} did you {1}{2}?", IRREGULAR[verb]
            elif verb.endswith(("ed", "ing", "s")):
                return None
        return form.format(*mine)
    return None
