"""The offline question writer: part-of-speech tags, noun-phrase slots, fact and stance questions."""

from __future__ import annotations

import pytest

from personatune.data import pos
from personatune.data.fact_questions import fact_questions
from personatune.data.question_forms import agree, slot, stance_question, verb_lemma
from personatune.data.retrieval import BM25
from personatune.data.template_questions import TemplateBackend, sentences


@pytest.fixture(scope="module")
def tagger():
    return pos.load()


def test_tagger_ships_its_accuracy_and_tags_plain_sentences(tagger):
    assert tagger.info["accuracy"]["test"] >= 0.92 and "UD_English-EWT" in tagger.info["data"]
    tags = [t.tag for t in tagger.tag("I was born in Gdańsk, in Poland.")]
    assert tags == ["PRP", "VBD", "VBN", "IN", "NNP", ",", "IN", "NNP", "."]
    lower = [t.tag for t in tagger.tag("i think static typing is overrated for small scripts")]
    assert lower[:2] == ["PRP", "VBP"] and lower[3] == "NN"


def test_tokens_keep_offsets_and_split_clitics(tagger):
    text = "It's Marta's plane, don't touch it."
    tokens = pos.tokenize(text)
    assert [t.text for t in tokens][:6] == ["It", "'s", "Marta", "'s", "plane", ","]
    assert "do" in [t.text for t in tokens] and "n't" in [t.text for t in tokens]
    assert all(text[t.start:t.end] == t.text for t in tokens)


def phrases(tagger, text):
    return pos.noun_phrases(tagger.tag(text), text)


def test_noun_phrases_are_slices_of_the_text_ending_in_a_noun(tagger):
    text = "The modulo operator returns the remainder of a division, and I use a table saw daily."
    found = phrases(tagger, text)
    assert [p.text for p in found] == ["The modulo operator", "the remainder of a division", "a table saw"]
    assert all(text[p.start:p.end] == p.text and p.tokens[-1].tag in pos.NOUNS for p in found)


@pytest.mark.parametrize("text, expected", [
    ("My grandfather's workshop was small.", "your grandfather's workshop"),
    ("Static typing is overrated.", "static typing"),
    ("The University of Minnesota is big.", "the University of Minnesota"),
    ("A hand plane is enough.", "a hand plane"),
    ("These screws are too short.", "screws"),
])
def test_slots_are_noun_phrases_made_to_stand_in_a_question(tagger, text, expected):
    filled = [s.text for p in phrases(tagger, text) if (s := slot(p))]
    assert filled[0] == expected


@pytest.mark.parametrize("text", ["His workshop was small.", "A lot of things happen.", "I bought two."])
def test_no_slot_from_someone_elses_things_light_nouns_or_numbers(tagger, text):
    assert [s for p in phrases(tagger, text) if (s := slot(p))] == []


def test_templates_agree_with_the_slot(tagger):
    plural = slot(phrases(tagger, "Pocket screws are strong.")[0])
    single = slot(phrases(tagger, "A pocket screw is strong.")[0])
    assert agree("How does {np} work?", plural) == "How do pocket screws work?"
    assert agree("How does {np} work?", single) == "How does a pocket screw work?"
    assert agree("why does {np} matter to you?", plural) == "Why do pocket screws matter to you?"


@pytest.mark.parametrize("word, tag, lemma", [
    ("grew", "VBD", "grow"), ("studied", "VBD", "study"), ("moved", "VBD", "move"), ("stopped", "VBD", "stop"),
    ("started", "VBD", "start"), ("built", "VBD", "build"), ("teaches", "VBZ", "teach"),
    ("saves", "VBZ", "save"), ("strikes", "VBZ", "strike"), ("fixes", "VBZ", "fix"), ("goes", "VBZ", "go")])
def test_verb_lemmas(word, tag, lemma):  # "saves" is not "sav", even where no lexicon knows the verb
    known = {"grow", "study", "move", "stop", "start", "build", "teach"}.__contains__
    assert verb_lemma(word, tag, known) == lemma


@pytest.mark.parametrize("sentence, questions", [
    ("I was born in Gdańsk, in Poland.", ["Where were you born?"]),
    ("I was born in Gdańsk in 1987.", ["Where were you born?", "When were you born?"]),
    ("I grew up in Duluth, Minnesota.", ["Where did you grow up?"]),
    ("I started mechanical engineering at the University of Minnesota Duluth.",
     ["Where did you start mechanical engineering?"]),
    ("I started Workbench Notes in January 2015, with a phone on a tripod.", ["When did you start Workbench Notes?"]),
    ("My parents moved us to Duluth when I was fourteen.", ["Where did your parents move you?"]),
    ("I worked at Amazon for five years.", ["Where did you work?", "How long did you work at Amazon?"]),
    ("I'm from Seattle.", ["Where are you from?"]),
    ("I teach a beginner woodworking class at Lake Superior College.",
     ["Where do you teach a beginner woodworking class?"]),
    ("I maintain the Sway compositor.", ["What compositor do you maintain?"]),
    ("I teach a beginner woodworking class.", []),  # "What class do you teach?" names nothing specific
    ("I run FreeRDP on my laptop.", ["What do you run on your laptop?"]),
    ("I run FreeRDP.", []),  # "What do you run?" means nothing without the passage
    ("I had twelve subscribers after the first month.", ["How many subscribers did you have after the first month?"]),
    # one-off events: "What saw did you buy?" assumes a purchase the asker knows nothing of
    ("I bought a flesh-sensing saw.", []),
    ("My grandfather gave me his old Stanley number five plane.", []),
    ("I lasted two years.", []),
    ("I spent a week in Montreal.", []),
    ("I met many of the driver developers from AMD.", []),
    ("The video was bad, and I had twelve subscribers.", ["How many subscribers did you have?"]),
    ("That was my first real tool.", ["What was your first real tool?"]),
    # the part a thing plays, as the person names it, says what kind of thing to ask for
    ("In my workflow, I use Vim as my editor, and Unix as my IDE.", ["What editor do you use?"]),
    ("We use Jenkins as our CI server.", ["What CI server do you use?"]),
    # "the X of my Y" says which X without the passage
    ("I lost the tip of my left index finger in 2013.", ["When did you lose the tip of your left index finger?"]),
    ("I sanded the edge in 2013.", []),
    # beliefs, plans, negations, hypotheticals, pronouns, titles and idioms state no fact to ask for
    ("I think glue is fine.", []),
    ("I like to cut wood.", []),
    ("I'll move to Berlin in 2030.", []),
    ("I never lived in Oslo.", []),
    ("I built it in 2015.", []),
    ("When I was in Berlin, it rained.", []),
    ("In 2016, I wrote In Memoriam.", []),
    ("I used to sneer at the Go maintainers.", []),
    ("I spent a lot of time studying ctags.", []),
    ("I talked my way into an apprenticeship.", []),
    ("I read it in the YouTube comments.", []),
    ("I'm writing to you from an airplane over Berlin.", []),
    ("This is my personal blog.", []),
    ("My honest advice is to buy from Acme.", []),
])
def test_first_person_facts_become_the_questions_they_answer(tagger, sentence, questions):
    verbs = {"bear", "grow", "start", "move", "work", "think", "like", "buy", "give", "last", "have", "build",
             "write", "talk", "read", "spend", "use", "sneer", "run", "teach", "meet", "maintain", "lose",
             "sand"}.__contains__
    assert [a.question for a in fact_questions(tagger.tag(sentence), sentence, verbs)] == questions


def test_a_fact_that_points_back_is_answered_with_the_sentence_before(tagger):
    from personatune.data.template_questions import TemplateBackend

    segment = {"segment_id": "s", "label": "persona", "text": "My grandfather gave me his old Stanley jack plane. "
               "And that was my first real tool. So I kept it."}
    facts = {q: f.answer for f in TemplateBackend([segment["text"]]).facts(segment, 6) for q in f.questions}
    assert facts["What was your first real tool?"] == ("My grandfather gave me his old Stanley jack plane. "
                                                        "And that was my first real tool.")


def test_names_the_archive_writes_with_capitals_are_names_where_captions_lost_them():
    from personatune.data.template_questions import TemplateBackend

    texts = ["we drove up to Bayfield on Friday.", "The yard in Bayfield was busy.",
             "I lived in bayfield for six years and I loved it."]
    backend = TemplateBackend(texts)
    assert "bayfield" in backend.names()
    segment = {"segment_id": "c", "label": "persona", "text": texts[2]}
    assert [f.questions for f in backend.facts(segment, 6)] == [["Where did you live?", "How long did you live in bayfield?",
                                                                 "How many years did you live in bayfield?"]]


def test_stances_ask_about_the_topic_of_the_persons_own_opinion(tagger):
    text = "I think static typing is overrated for small scripts."
    tokens = tagger.tag(text)
    assert stance_question(tokens, text, pos.noun_phrases(tokens, text)) == "What do you think about static typing?"


SEGMENTS = [
    {"segment_id": "bio", "label": "persona", "subtype": "background",
     "text": "I was born in Gdańsk, in Poland. My grandfather built wooden fishing boats. I grew up in Duluth, "
             "Minnesota, and I still live there with my husband."},
    {"segment_id": "saw", "label": "instructional", "subtype": None,
     "text": "The router table makes edge profiles safer on narrow stock. Set the router table fence flush with "
             "the bearing, and score the veneer first with a sharp knife."},
    {"segment_id": "glue", "label": "instructional", "subtype": None,
     "text": "Yellow glue sets in ten minutes. Clamp for an hour and keep the squeeze-out off the router table."},
]


def test_template_backend_asks_about_the_answers_own_phrases_and_facts():
    backend = TemplateBackend([], person="Marta Kowalczyk", index=BM25([s["text"] for s in SEGMENTS]),
                              slot_labels=("instructional",))  # `pairs.slot_questions`: the noun-phrase templates
    bio = backend.propose(SEGMENTS[0], 3, attempt=0)
    # read off sentences, facts first, then statements asked back: no template questions
    assert bio[:2] == ["Where were you born?", "Where did you grow up?"] and bio[2].startswith(("Were you", "Did your"))
    saw = backend.propose(SEGMENTS[1], 3, attempt=0)
    assert len(set(saw)) == len(saw) >= 1 and any("router table" in q for q in saw)
    assert not any("veneer" in q for q in saw)  # mentioned once, found nowhere else: not what the answer is about
    assert backend.propose(SEGMENTS[1], 3, attempt=0) == saw  # deterministic
    assert not set(backend.propose(SEGMENTS[1], 3, attempt=1)) & set(saw)  # a retry asks about other phrases
    facts = backend.facts(SEGMENTS[0], 3)
    assert facts[0].questions[0] == "Where were you born?" and facts[0].answer.startswith("I was born in Gdańsk")


def test_sentences_split_on_marks_before_capitals():
    assert sentences("I was born in 1987. It was cold! Was it? yes.\nNew line") == [
        "I was born in 1987.", "It was cold!", "Was it? yes.", "New line"]


@pytest.mark.parametrize("sentence, definition, how", [
    ("A fence is a straight piece of hardwood.", "What is a fence?", None),
    ("The fence is just a straight piece of hardwood.", None, None),  # which fence? only the passage knows
    ("To flatten a board, start with a jack plane.", None, "How do you flatten a board?"),
    ("To use it, you set the register.", None, None),  # "How do you use it?": it points back
    ("To set the radius, slide the pin along the arm.", None, None),  # the radius of what?
])
def test_a_lesson_question_means_something_without_its_passage(tagger, sentence, definition, how):
    from personatune.data.lesson_questions import definition_question, how_question

    tokens = tagger.tag(sentence)
    assert definition_question(tokens, pos.noun_phrases(tokens, sentence)) == definition
    assert how_question(tokens, sentence) == how
