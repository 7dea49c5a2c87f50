"""Training: LoRA fine-tuning of the base model on the dataset, then merging the adapter.

Reads `DIR/data/07-dataset/messages/{train,validation}.jsonl` and the base model; writes
`DIR/runs/<id>/` (settings, metrics.jsonl, checkpoints, the adapter) and, after `merge`,
`DIR/runs/<id>/merged/`. `runs` holds the settings and the run folders, `loop` the optimizer loop,
`batches` tokenising and batching, `loss`, `fast_lora` and `prefix` what makes it fast on a CPU, `dist`
the collectives for several processes.
"""
