from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from personatune.data.chunk import Settings, chunk_document, is_punctuated, sentence_spans


def count_words(texts: list[str]) -> list[int]:
    """A stand-in tokenizer for property tests: one token per word."""
    return [len(t.split()) for t in texts]


def doc_from(pieces: list[dict]) -> dict:
    return {"doc_id": "d", "source": "/x/talk.srt", "title": "Talk", "format": "srt", "pieces": pieces}


word = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABC.,!?'-0123456789", min_size=1, max_size=12).filter(
    lambda w: w.strip() != "" and " " not in w)
piece_texts = st.lists(st.lists(word, min_size=1, max_size=30).map(" ".join), min_size=1, max_size=40)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(texts=piece_texts, target=st.integers(10, 200), gaps=st.lists(st.floats(0, 5), min_size=40, max_size=40))
def test_segments_cover_text_exactly_once(texts, target, gaps):
    pieces, t = [], 0.0
    for text, gap in zip(texts, gaps):
        pieces.append({"text": text, "start": t, "end": t + 2.0, "offset": None})
        t += 2.0 + gap
    cfg = Settings(target_tokens=target, max_tokens=target * 2, min_tokens=max(1, target // 3))
    segments = chunk_document(doc_from(pieces), cfg, count_words)
    original = " ".join(" ".join(p["text"].split()) for p in pieces)
    assert " ".join(s["text"] for s in segments) == original
    assert all(s["text"] for s in segments)
    assert [s["index"] for s in segments] == list(range(len(segments)))
    # char ranges tile the cleaned text with single spaces between segments
    for a, b in zip(segments, segments[1:]):
        assert b["char_start"] == a["char_end"] + 1
    assert all(len(s["text"].split()) <= cfg.max_tokens for s in segments)


def test_punctuated_text_breaks_at_sentence_ends():
    sentences = [f"This is sentence number {i} and it says something useful about planes." for i in range(40)]
    segments = chunk_document(doc_from([{"text": " ".join(sentences), "start": None, "end": None, "offset": 0}]),
                              Settings(target_tokens=40, max_tokens=60, min_tokens=10), count_words)
    assert len(segments) > 5
    for seg in segments:
        assert seg["text"].endswith("planes."), seg["text"][-40:]
        assert seg["text"][0].isupper()


def test_unpunctuated_captions_break_at_pauses_and_discourse_markers():
    lines = []
    t = 0.0
    for i in range(30):
        text = "so now we take the plane and set the iron nice and shallow for the first pass" if i % 5 == 0 \
            else "and you can feel it cut across the grain a little at a time without tearing"
        lines.append({"text": text, "start": t, "end": t + 3.0, "offset": None})
        t += 3.0 + (2.0 if i % 5 == 4 else 0.1)
    words = " ".join(p["text"] for p in lines).split()
    assert not is_punctuated(words)
    cfg = Settings(target_tokens=90, max_tokens=120, min_tokens=20)
    segments = chunk_document(doc_from(lines), cfg, count_words)
    assert all(s["text"].startswith("so now") for s in segments[1:]), [s["text"][:20] for s in segments]
    assert all(20 <= s["words"] <= 120 for s in segments)


def test_sentence_spans_never_exceed_the_bound_without_punctuation():
    words = ["word"] * 500
    spans = sentence_spans(words, [0] * 500, {}, Settings(max_sentence_words=40))
    assert spans[0][0] == 0 and spans[-1][1] == 500
    assert max(e - s for s, e in spans) <= 40


def test_provenance_points_at_first_and_last_piece():
    pieces = [{"text": f"Sentence {i} is here.", "start": float(i * 10), "end": float(i * 10 + 5), "offset": None}
              for i in range(12)]
    segments = chunk_document(doc_from(pieces), Settings(target_tokens=12, max_tokens=20, min_tokens=4), count_words)
    assert segments[0]["start"] == 0.0
    assert segments[-1]["end"] == 115.0
    assert segments[1]["start"] == 30.0  # three 4-word sentences fill the 12-token target


def test_a_sentence_that_leans_on_the_one_before_stays_with_it():
    text = ("I built my first bench from construction lumber and it took a whole summer. " * 6 +
            "And no, it was not flat. It still is not, but it holds a vise.")
    segments = chunk_document(doc_from([{"text": text, "start": None, "end": None, "offset": 0}]),
                              Settings(target_tokens=45, max_tokens=80, min_tokens=10), count_words)
    assert len(segments) >= 2
    assert not any(s["text"].startswith(("And", "It")) for s in segments)
    assert " ".join(s["text"] for s in segments) == text
