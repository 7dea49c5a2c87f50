"""LoRA fine-tuning: data (tokenise, mask, length-grouped batches), the labelled-positions loss, and the loop."""
