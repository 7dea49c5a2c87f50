"""Evaluation: how well the model answers as the person, against the base model, and by how much.

Reads a run (merged model or GGUF), the persona, the probes and the built-in prompt sets (`sets/`);
writes `DIR/eval/<id>/` (answers, scores with intervals, report.html with plots). `sweep` retrains
over a dial and compares, `compare` diffs two evaluations, `rating` serves a blind side-by-side page.
"""
