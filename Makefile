# Axisboard: `make run` sets up and serves the app with demo data; `make test` sets up and runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
# The CPU build of torch (used by `axisboard calibrate`); a CUDA host may install its own build.
TORCH_SPEC ?= torch==2.13.0

.PHONY: install run test test-fast lint fmt check bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m pip install --quiet '$(TORCH_SPEC)' || echo "torch not installed: calibration will be unavailable"
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/axisboard migrate
	$(BIN)/axisboard seed --demo
	@echo "Serving on http://$(HOST):$(PORT)"
	$(BIN)/axisboard serve --host $(HOST) --port $(PORT)

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The inner loop: all but the browser, whole-system and slow tests (markers in pyproject.toml),
# under 2 minutes on 2 cores. Their directories are not even collected, nor is schemathesis loaded.
FAST_ARGS := -m "not (browser or system or slow)" -p no:schemathesis \
	--ignore=tests/browser --ignore=tests/system --ignore=tests/fuzz

test-fast: install
	$(BIN)/python -m pytest $(FAST_ARGS) $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

check: lint test

bench: install
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache
