# kanlab: `make demo` and `make test` set everything up on a fresh machine.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.kanlab-installed
# Every install resolves the same set: constraints.txt pins each package `.[dev]` brings except
# torch/torchvision and their CUDA wheels (left to the machine's build; see CONVENTIONS).
# `make constraints` regenerates it from the newest versions pyproject.toml allows.
CONSTRAINTS := constraints.txt
# The newest allowed versions, resolved afresh (`make test-latest`, a step of .ci/run).
LATEST := .venv-latest
# pytest workers are not used: 2 cores; the suite is sized to run in ~10 minutes.
PYTEST_ARGS ?=

.PHONY: install data demo test test-slow test-latest constraints lint typecheck bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): pyproject.toml $(CONSTRAINTS) | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c $(CONSTRAINTS) -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Fashion-MNIST from the Debian package, as .ci/run installs it (root + apt-get only; otherwise
# `kanlab demo` stops at once with the command to run, and the tests that need it are skipped).
data:
	@bash .ci/system-packages data

# Results go to results/local/demo (gitignored); each demo starts afresh.
demo: install data
	$(BIN)/kanlab demo $(DEMO_ARGS)

lint: install
	$(BIN)/ruff check kanlab tests bench

typecheck: install
	$(BIN)/mypy

test: install data lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-slow: install
	$(BIN)/python -m pytest -q -m slow $(PYTEST_ARGS)

# The suite on the newest versions pyproject.toml allows (no constraints, a fresh venv), so an
# upstream release that breaks kanlab is caught here before a user meets it.
$(LATEST)/bin/python:
	$(PYTHON) -m venv $(LATEST)

test-latest: | $(LATEST)/bin/python
	$(LATEST)/bin/python -m pip install -q --upgrade pip
	$(LATEST)/bin/python -m pip install -q --upgrade --upgrade-strategy eager -e '.[dev]'
	$(LATEST)/bin/python -m pip list --format=freeze --exclude-editable
	$(LATEST)/bin/python -m pytest -q $(PYTEST_ARGS)

# Re-pin constraints.txt to what test-latest resolved (after it passed).
constraints: test-latest
	.ci/constraints $(LATEST)/bin/python > $(CONSTRAINTS).new && mv $(CONSTRAINTS).new $(CONSTRAINTS)

bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(LATEST) .pytest_cache .mypy_cache .ruff_cache
