# kanlab: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kanlab-installed
# pytest workers are not used: 2 cores; the suite is sized to run in ~10 minutes.
PYTEST_ARGS ?=

.PHONY: install data demo test test-slow lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST from the Debian package, as .ci/run installs it (root + apt-get only; otherwise
# `kanlab demo` stops at once with the command to run).
data:
	@bash .ci/system-packages data

# Results go to results/local/demo (gitignored); each demo starts afresh.
demo: install data
	$(BIN)/kanlab demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check kanlab tests bench

typecheck: install
	$(BIN)/mypy

test: install lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
