# Two commands on a fresh machine: `make demo` and `make test`. Both set up .venv first: `make demo`
# installs only what the demo runs (the package and its `demo` extra), `make test` the `dev` extra.
# `make clean` removes .venv and caches, never trained models; `make clean-runs` deletes runs/.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
TORCH   ?= torch==2.13.0

.PHONY: setup demo test test-slow pretrain clean clean-runs

setup: $(VENV)/.ok
	@command -v bwrap >/dev/null 2>&1 || [ "$$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1 || \
	  (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap) >/dev/null 2>&1 || \
	  echo "setup: bubblewrap not installed; code rewards refuse to run (docs/sandbox.md)"

# The pinned CPU torch goes in first so the package's torch range never pulls a CUDA build.
$(VENV)/.torch:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q "$(TORCH)"
	touch $@

$(VENV)/.ok: pyproject.toml $(VENV)/.torch
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e ".[dev]"
	touch $@

$(VENV)/.demo: pyproject.toml $(VENV)/.torch
	PYTHONWARNINGS=ignore $(BIN)/pip install -q -e ".[demo]"
	touch $@

demo: $(VENV)/.demo
	$(BIN)/reasonrl train

test: setup
	$(BIN)/python -m pytest -q

test-slow: setup
	$(BIN)/python -m pytest -q -m slow

# Mutation testing of the RL math and the eval metrics (docs/mutation-testing.md); not part of `make test`.
.PHONY: mutate
mutate: setup
	$(BIN)/python -c "import mutmut" 2>/dev/null || $(BIN)/pip install -q "mutmut>=3.8,<4"
	rm -rf mutants
	OMP_NUM_THREADS=1 nice -n 10 $(BIN)/mutmut run --max-children 2
	$(BIN)/python bench/mutation_table.py

pretrain: setup
	$(BIN)/reasonrl pretrain

clean:
	rm -rf $(VENV) .pytest_cache reasonrl.egg-info
	find . -path ./runs -prune -o -name __pycache__ -type d -exec rm -rf {} +

clean-runs:
	rm -rf runs
