# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   ?= torch==2.13.0

.PHONY: setup demo test test-slow pretrain clean

setup: $(VENV)/.ok

# The pinned CPU torch goes in first so the package's torch range never pulls a CUDA build.
$(VENV)/.ok: pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	$(BIN)/pip install -q -e ".[dev]"
	touch $@

demo: setup
	$(BIN)/reasonrl train

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

pretrain: setup
	$(BIN)/reasonrl pretrain

clean:
	rm -rf $(VENV) runs
