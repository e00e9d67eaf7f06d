# handoff: `make run` brings the system up on the embedded default; `make test` runs the whole suite, `make test-fast` the inner loop.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
HANDOFF := $(VENV)/bin/handoff

.PHONY: run test test-fast lint format bench eval migration docs clean

$(VENV)/.installed: pyproject.toml constraints.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch comes from the machine's local CPU wheel (PIP_FIND_LINKS); the constraints pin everything else.
	$(PY) -m pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

run: $(VENV)/.installed
	$(HANDOFF) up

test: $(VENV)/.installed
	$(PY) -m pytest -q

# The inner loop: pure and SQLite tests, no outside services and nothing slow (the markers are in pyproject.toml).
test-fast: $(VENV)/.installed
	$(PY) -m pytest -q -m "not services and not slow"

lint: $(VENV)/.installed
	$(VENV)/bin/ruff check src tests eval
	$(VENV)/bin/ruff format --check src tests eval

format: $(VENV)/.installed
	$(VENV)/bin/ruff format src tests eval
	$(VENV)/bin/ruff check --fix src tests eval

bench: $(VENV)/.installed
	$(PY) -m eval.bench

eval: $(VENV)/.installed
	$(PY) -m eval.run

migration: $(VENV)/.installed
	$(PY) -m handoff.store.regenerate_migration

docs: $(VENV)/.installed
	$(HANDOFF) docs dictionary

clean:
	rm -rf $(VENV) var
