from __future__ import annotations

from personatune.data.answer_start import answer_start, sentence_starts

STORY = ("So this one is different. No project today. I was born in Gdańsk, in Poland, in 1987. My grandfather "
         "gave me his old Stanley plane. And that was my first real tool. After high school I studied mechanical "
         "engineering in Duluth.")


def weight(term: str) -> float:
    return 1.0


def test_the_answer_starts_at_the_sentence_its_question_asks_about_and_runs_to_the_end():
    start = answer_start(STORY, "Where were you born?", weight)
    assert STORY[start:].startswith("I was born in Gdańsk") and STORY.endswith(STORY[start:])
    studied = answer_start(STORY, "What did you study at university?", weight)  # "study" finds "studied"
    assert STORY[studied:] == "After high school I studied mechanical engineering in Duluth."


def test_a_sentence_that_points_back_starts_with_the_one_before_it():
    start = answer_start(STORY, "What was your first real tool?", weight)
    assert STORY[start:].startswith("My grandfather gave me his old Stanley plane. And that was")


def test_a_question_no_sentence_answers_keeps_the_whole_passage():
    assert answer_start(STORY, "Can you tell me a bit about your background?", weight) == 0
    assert answer_start(STORY, "What is it?", weight) == 0  # nothing but stop words
    assert answer_start("One sentence about being born in Gdańsk.", "Where were you born?", weight) == 0


def test_every_start_is_a_sentence_start_and_the_words_are_the_persons():
    starts = sentence_starts(STORY)
    assert [STORY[s:s + 8] for s in starts] == ["So this ", "No proje", "I was bo", "My grand", "And that",
                                                "After hi"]
    for question in ("Where were you born?", "Who gave you a plane?", "Where did you study engineering?"):
        assert answer_start(STORY, question, weight) in starts


def test_a_sentence_that_carries_on_starts_with_the_one_before_two_at_most():
    text = "Grab a coffee. I started engineering. So I left without a degree. And then I found boats. And that was it."
    assert text[answer_start(text, "Did you leave without a degree?", weight):].startswith("I started engineering.")
    assert text[answer_start(text, "When did you find boats?", weight):].startswith("I started engineering.")
