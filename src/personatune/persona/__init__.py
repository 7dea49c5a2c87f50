"""The prompt around every answer: the persona card, retrieved passages, the conversation.

Reads the persona card (`DIR/persona_card.md`, `data/card.py`) and the retrieval index (`DIR/index/`,
`data/rag.py`), which the data phase draws from the labelled segments because training rows are
rendered with them too; writes nothing of its own but the card when there is none yet. Every runtime
(chat, serve, eval, the exported page) builds its system message with `prompting`, so the model sees
the same words wherever it runs, and the words it was trained with.
"""
