"""The persona around every answer: the card, the retrieval index, and prompt assembly.

Reads the dataset stages' segments (`DIR/data/`) and writes `DIR/persona/` (the card) and the
retrieval index in the cache; every runtime (chat, serve, eval, the exported page) builds its
system message with `prompting`, so the model sees the same words wherever it runs.
"""
