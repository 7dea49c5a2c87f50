"""Pure evaluation metrics: identity facts, invented biography, opinions, bleed, verbatim recall,
term echo, length drift, confidence intervals and overfitting flags.

Nothing here loads a model. Functions take strings, token sequences, numpy vectors or callables
(an `embed(list[str]) -> (n, d)` array of L2-normalised rows; a log-probability function) and
return numbers or small dicts, so the eval stage stays thin and every definition is unit-tested.
The docstrings are the definitions docs/evaluation.md quotes.

One module per thing measured: `text` (the normalisation and word tokens every word-level metric
uses, and the person's source vocabulary), `identity` (fact recall, invented biography,
contradictions), `opinions` (opinion alignment, stance picks), `bleed` (persona bleed, term echo),
`verbatim` (copied n-grams, longest common run, exact continuation), `length` (length drift),
`intervals` (bootstrap and Wilson intervals, win rates) and `overfitting` (the flags and their
thresholds). Import from the module itself; this package re-exports nothing.
"""
