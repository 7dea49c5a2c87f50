"""The label stage's learned classifier: shipped weights, features, adaptation to one archive's decisions."""

from __future__ import annotations

import numpy as np

from personatune.data import label_model
from personatune.data.label_cues import lexical_features

STORY = ("I grew up in a small town on the coast, and my father ran the hardware store there. When I was twelve I "
         "started sweeping the floors after school, and I think that is where I learned to care about tools.")
LESSON = ("Set the fence to two inches and lock it. Next, make sure the blade is square to the table. Push the "
          "board through with a push stick, and keep your hands clear of the blade at all times.")
NARRATION = ("Now we take the cross product of the two vectors. The determinant gives the area of the "
             "parallelogram, and the sign tells us the orientation of the basis.")


def matrix(texts: list[str]) -> np.ndarray:
    return label_model.features(texts, [lexical_features(t) for t in texts], [0.0] * len(texts), [False] * len(texts))


def test_features_are_deterministic_shape_ngrams_not_topic_words():
    x = matrix([STORY, STORY, LESSON])
    assert x.shape == (3, label_model.HASH_DIM + len(label_model.DENSE))
    assert np.array_equal(x[0], x[1]) and not np.array_equal(x[0], x[2])
    # topic words become their part of speech: a woodworking and a cooking lesson share their shape n-grams
    cooking = LESSON.replace("fence", "oven").replace("blade", "pan").replace("board", "dough")
    shape = matrix([LESSON, cooking])[:, :label_model.HASH_DIM]
    assert np.array_equal(shape[0], shape[1])


def test_shipped_model_ranks_a_life_story_above_a_lesson_and_a_lecture():
    model = label_model.shipped()
    p = model.predict(matrix([STORY, LESSON, NARRATION]))
    assert p[0] > 0.5 > max(p[1], p[2]), p
    assert model.info["trained_on"] and len(model.info["trained_on"]) >= 8  # people in the corpus


def test_reasons_name_the_shape_that_made_it_persona():
    from personatune.data import pos

    model = label_model.shipped()
    sequence = label_model.shape_sequence(pos.load().tag(STORY))
    why = model.why(matrix([STORY])[0], sequence)
    assert why and all(w.startswith('"') and w.endswith('"') for w in why)
    assert label_model._readable("i VBD") == '"I [past-tense verb]"'
    assert label_model._readable("my NN") == '"my [noun]"'


def test_adapt_moves_toward_this_archives_decisions_and_keeps_the_rest():
    model = label_model.shipped()
    x = matrix([STORY, LESSON, NARRATION])
    assert label_model.adapt(model, x[:0], np.zeros(0)) is model
    # this person's lectures are what they want as persona (say, a teacher whose lessons are their voice)
    adapted = label_model.adapt(model, x[2:3], np.ones(1), strength=3.0)
    before, after = model.predict(x), adapted.predict(x)
    assert after[2] > before[2] + 0.1
    assert after[0] > 0.5  # the life story is still persona
    assert adapted.info["adapted_on"] == 1


def test_model_round_trips_through_bytes():
    model = label_model.shipped()
    again = label_model.Model.from_bytes(model.to_bytes())
    x = matrix([STORY, LESSON])
    assert np.allclose(model.predict(x), again.predict(x)) and again.info == model.info
