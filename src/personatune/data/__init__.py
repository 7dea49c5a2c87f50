"""The dataset: a person's sources in, training and held-out chat rows out.

Reads the files named by `sources:` in persona.yaml (never modifying them) and the human's
`labels.override.jsonl`; writes one folder per stage, `DIR/data/NN-<stage>/`, in the order of
`workspace.STAGE_NAMES`: ingest → clean → chunk → label → pairs → build → dataset. `runner` runs
them and skips a stage whose inputs did not change; each stage is one module with its `Settings`
(`formats` holds ingest's parsers, `label_cues` label's lexical pass).
"""
