# Two commands matter: `make demo` (the offline demo) and `make test` (after `make lint`).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo lint test test-slow test-statistical test-fast screenshots benchmarks clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/autoresearch-tui demo

# Types and lint (rules and their documented exceptions in pyproject.toml); CI runs it first.
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy --strict app widgets

# `make test` stays under 10 minutes on a 2-core machine; CI runs `make test-slow` after it
# (fault injection, scale, whole demo runs). `statistical` tests assert outcomes a noisy
# machine makes likely rather than certain (detection rates): run them by hand.
test: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not statistical"

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -m "slow and not statistical"

test-statistical: $(STAMP)
	$(BIN)/python -m pytest -q -m statistical

test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not tmux and not statistical"

screenshots: $(STAMP)
	$(BIN)/python scripts/screenshots.py

benchmarks: $(STAMP)
	for b in benchmarks/*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .mypy_cache .ruff_cache
