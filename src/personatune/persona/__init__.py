"""The persona around every answer: the card, the retrieval index, and prompt assembly.

Reads the labelled segments of the dataset stages (`DIR/data/`); writes the persona card
(`DIR/persona_card.md`, never over the person's own edits) and the retrieval index (`DIR/index/`).
Every runtime (chat, serve, eval, the exported page) builds its system message with `prompting`,
so the model sees the same words wherever it runs.
"""
