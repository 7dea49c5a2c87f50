"""Statements asked back: the yes/no question a sentence of the person answers, in the sentence's own words."""

from __future__ import annotations

import pytest

from personatune.data import pos
from personatune.data.retrieval import BM25
from personatune.data.statement_questions import asked_in_text, statement_question, title_question
from personatune.data.template_questions import TemplateBackend


@pytest.fixture(scope="module")
def ask():
    tagger = pos.load()

    def known(word: str) -> bool:
        return (tagger.lexical_tag(word) or "").startswith("VB")

    return lambda sentence: statement_question(tagger.tag(sentence), sentence, known)


@pytest.mark.parametrize("sentence, question", [
    ("Being Vim literate is a valuable skill, but an important detail is knowing when to drop it.",
     "Is being Vim literate a valuable skill?"),
    ("I don't use an IDE for Rust.", "Do you use an IDE for Rust?"),
    ("I recently quit my job at Linode and started looking for something else to do.",
     "Did you quit your job at Linode?"),  # "recently" belongs to the passage's moment
    ("In many fields, professional-grade tooling requires a high degree of knowledge and training.",
     "Does professional-grade tooling require a high degree of knowledge and training?"),
    ("Pocket holes are fast, they don't need a shop full of machines.", "Are pocket holes fast?"),
    ("Currently annotators are available for Python and Rust, and I intend to write more.",
     "Are annotators available for Python and Rust?"),
    ("Cons: 1-based indexing is objectively bad, the maintainers do their own thing.",
     "Is 1-based indexing objectively bad?"),
    ("It's important to keep your chisels sharp.", "Is it important to keep my chisels sharp?"),
    ("We've been working on sr.ht full-time.", "Have you been working on sr.ht full-time?"),
    ("There are a few central principles I use to guide my maintainership work.",
     "Are there a few central principles you use to guide your maintainership work?"),
    ("Rust has a steep learning curve.", "Does Rust have a steep learning curve?"),
    ("I work on free and open-source software full time, and I make a living doing it.",
     "Do you work on free and open-source software full time?"),  # "free and open-source" is one phrase
    ("I compiled a kernel without support for loadable modules.",
     "Did you compile a kernel without support for loadable modules?"),  # the silent e the suffix took
    ("A true scrub plane has an even heavier curve.", "Does a true scrub plane have a heavier curve?"),
    ("My package repositories probably have most of my dependencies.",
     "Do your package repositories have most of your dependencies?"),  # "Do ... probably have" is no question
])
def test_a_statement_becomes_the_question_it_answers(ask, sentence, question):
    assert ask(sentence) == question


@pytest.mark.parametrize("sentence", [
    "So this is a full sheet of three quarter inch birch plywood.",  # the subject points back
    "And I can plane them flush.",  # so does the object
    "I'll see you next month.",  # the person talking to the reader
    "I frequently encourage people who contribute to write tests.",  # the relative clause is the point
    "Sway is great.",  # too little to ask about
    "You can use the -v flag to see more output.",  # a generic "you": "Can I ...?" is nobody's question
    "The legs are long.",  # which legs?
    "Most people who come to me want to learn Python quickly.",  # no verb after the subject phrase
    "The page opens with an advertisement 281 pixels tall.",  # a figure only the answer knows
    "I bought a second VT220 for use at home yesterday.",  # the passage's own moment
    'Claude writes "I do not want to be retrained."',  # someone else's words
    "I think static typing is overrated.",  # a stance: asked by its topic elsewhere
    "There's no easy solve.",
    "You'll be heading to the pricing page next.",  # narration
    "Shellac soaked rags should go flat outside to dry.",  # a second verb: subject and verb were misread
    "Borg is how important filesystem-level data is backed up.",  # "Is Borg how ...?"
    "It is important to note that the Gemini specification mentions TOFU.",  # about the writing, not the topic
])
def test_no_question_where_it_would_mean_nothing_on_its_own(ask, sentence):
    assert ask(sentence) is None


@pytest.mark.parametrize("sentence, question", [
    ("What are founding creators?", "What are founding creators?"),
    ("So why do I use Vim every day?", "Why do you use Vim every day?"),
    ("Why wouldn't we take advantage of that?", None),  # points back
])
def test_a_question_the_person_asks_and_answers_is_asked_as_the_reader_would(sentence, question):
    assert asked_in_text(pos.load().tag(sentence)) == question


def test_the_question_keeps_the_sentences_words(ask):
    sentence = "The X200 was made by Lenovo, and it still runs fine."
    question = ask(sentence)
    assert question == "Was the X200 made by Lenovo?"
    assert set(question.rstrip("?").lower().split()) <= set(sentence.lower().replace(",", "").split())


def test_the_offline_writer_asks_statements_back_before_any_template():
    texts = ["Rust has a steep learning curve. The borrow checker rejects programs that alias mutable data. "
             "Most people fight it for a few weeks.",
             "Go compiles quickly. Its standard library covers networking well.",
             "Sourdough needs a starter kept at room temperature."]
    backend = TemplateBackend(texts, index=BM25(texts))
    segment = {"segment_id": "s0", "label": "instructional", "text": texts[0]}
    questions = backend.propose(segment, 3, 0)
    assert "Does Rust have a steep learning curve?" in questions
    assert all(q.startswith(("Does", "Do", "Is", "Are", "Can", "What", "How", "Why")) for q in questions)
    later = backend.propose(segment, 3, 1)
    assert not set(later) & set(questions)  # a later round offers the next ones, never the same


@pytest.mark.parametrize("title, question", [
    ("How I maintain FOSS projects", "How do you maintain FOSS projects?"),
    ("Why I chose Flask to build sr.ht's mini-services", "Why did you choose Flask to build sr.ht's mini-services?"),
    ("Should you move from GitHub to sr.ht", "Should I move from GitHub to sr.ht?"),
    ("I'm launching a course on product strategy", "Are you launching a course on product strategy?"),
    ("Status update, May 2020", None),
    ("China", None),
])
def test_a_title_phrased_as_a_question_asks_it(title, question):
    assert title_question(title) == question


def test_a_capital_that_only_starts_a_sentence_is_no_name():
    texts = ["Finishing happens last.", "I do the finishing outside, and the grain matters.",
             "C strikes a nearly perfect balance of simplicity."]
    backend = TemplateBackend(texts, index=BM25(texts))
    asked = [statement_question(backend.tag(t), t, backend.known, backend.is_name) for t in (texts[0], texts[2])]
    assert asked == ["Does finishing happen last?", "Does C strike a nearly perfect balance of simplicity?"]
    assert backend.tag(texts[0])[0].tag not in pos.PROPER


def test_a_segment_with_nothing_to_read_off_gets_template_slots_only_where_asked_for():
    texts = ["So this is it. They put them there. It works.",  # nothing to read off: every sentence points back
             "The router table makes edge profiles safer. Router bits come in many profiles.",
             "The router table fence sets the depth of a router cut.",
             "Router bits dull fast in plywood, so keep the router table fence clean."]
    segment = {"segment_id": "s0", "label": "instructional", "text": texts[0] + " Router bits. A router table fence."}
    default = TemplateBackend(texts, index=BM25(texts), slot_labels=())
    assert default.propose(segment, 3, 0) == []
    slots = TemplateBackend(texts, index=BM25(texts), slot_labels=("instructional",))
    assert slots.propose(segment, 3, 0) and all("router" in q.lower() for q in slots.propose(segment, 3, 0))


def test_a_persona_segment_with_nothing_to_read_off_is_asked_about_the_topic_its_title_names():
    texts = ["So this is it. They put them there. It works.", "Router bits come in many profiles."]
    segment = {"segment_id": "s0", "label": "persona", "text": texts[0], "title": "Ten years of Workbench Notes"}
    listing = {**segment, "title": "Aligning a table saw: blade to miter slot, fence parallel"}
    backend = TemplateBackend(texts, index=BM25(texts), slot_labels=())
    assert backend.propose(segment, 3, 0) == ["Can you tell me about ten years of Workbench Notes?"]
    assert backend.propose({**segment, "title": "Privacy as a hobby"}, 3, 0) == ["Can you tell me about privacy as a hobby?"]
    assert backend.propose({**segment, "title": "Rust is not a good C replacement"}, 3, 0) == []  # a claim
    assert backend.propose({**segment, "title": "Privacy as a hobby"}, 3, 1) == []
    assert backend.propose({**segment, "title": ""}, 3, 0) == []
    assert backend.propose(listing, 3, 0) == []  # a list of contents is no headline to ask about


def test_a_persona_statement_no_wh_question_reads_is_a_fact_pair_answered_by_its_sentence():
    text = ("I write every script on index cards, one card per step, and I shuffle them until the order makes "
            "sense. I was born in Gdańsk, in Poland, in 1987. The glue sets in ten minutes. I compiled a kernel "
            "without support for loadable modules.")
    segment = {"segment_id": "s", "label": "persona", "text": text}
    facts = {q: f.answer for f in TemplateBackend([text]).facts(segment, 6) for q in f.questions}
    assert facts["Where were you born?"] == "I was born in Gdańsk, in Poland, in 1987."  # the wh-question comes first
    assert facts["Do you write every script on index cards?"].startswith("I write every script on index cards, one")
    assert "Do you write every script on index cards?" in facts and len(facts) >= 3
    assert not any("glue" in q for q in facts)  # not about the person: the segment's questions ask it
    assert not any("kernel" in q for q in facts)  # a past event asked back: only the answer knows which
    assert all(f.sentence != 0 for f in TemplateBackend([text]).facts(segment, 1))  # the limit keeps wh-facts first
