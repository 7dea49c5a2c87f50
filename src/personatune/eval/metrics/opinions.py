"""Opinion metrics: embedding alignment with the person's own answer, and multiple-choice stance.

`embed` is a callable `embed(list[str]) -> (n, d)` array of L2-normalised rows (`Embed`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

Embed = Callable[[list[str]], np.ndarray]


def _unit_rows(vectors: np.ndarray) -> np.ndarray:
    vectors = np.asarray(vectors, dtype=np.float64)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)


def opinion_alignments(answers: Sequence[str], references: Sequence[str], embed: Embed) -> np.ndarray:
    """Cosine similarity between each answer's embedding and its reference answer's embedding
    (rows re-normalised, so any embedder works); an empty or blank answer scores 0.0."""
    if len(answers) != len(references):
        raise ValueError(f"{len(answers)} answers but {len(references)} references")
    scores = np.zeros(len(answers))
    keep = [i for i, a in enumerate(answers) if a.strip()]
    if keep:
        vectors = _unit_rows(embed([answers[i] for i in keep] + [references[i] for i in keep]))
        a, r = vectors[:len(keep)], vectors[len(keep):]
        scores[keep] = np.sum(a * r, axis=1)
    return scores


def opinion_alignment(answer: str, reference_answer: str, embed: Embed) -> float:
    """Cosine similarity of the embeddings of the answer and the person's held-out answer to the
    same question, in [-1, 1]; 0.0 for an empty answer."""
    return float(opinion_alignments([answer], [reference_answer], embed)[0])


def stance_pick(logprob_fn: Callable[[str, str], tuple[float, int]], question: str,
                options: Sequence[str]) -> dict:
    """Multiple-choice stance: the option with the highest length-normalised log-likelihood.

    `logprob_fn(question, option)` returns (sum of the option's token log-probabilities, number
    of option tokens); the score is sum / max(n_tokens, 1); ties go to the first option.
    Returns {"index": int, "option": str, "scores": [float, ...]}.
    """
    if not options:
        raise ValueError("stance_pick needs at least one option")
    scores = []
    for option in options:
        total, n_tokens = logprob_fn(question, option)
        scores.append(float(total) / max(int(n_tokens), 1))
    index = int(np.argmax(scores))
    return {"index": index, "option": options[index], "scores": scores}
