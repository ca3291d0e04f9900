# Two commands on a fresh machine: `make run` and `make test`.
SHELL := /bin/bash
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
# pyenv's shim honours .python-version (3.12); fall back to whatever python3 is on PATH.
PYTHON ?= $(shell command -v python3.12 2>/dev/null || command -v python3)

.PHONY: run test lint install check-python demo migrate bench clean

check-python:
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null || { \
	  echo "This CRM needs Python 3.12 or newer; '$(PYTHON)' is $$($(PYTHON) --version 2>&1)."; \
	  echo "Install 3.12 (for example 'pyenv install 3.12', which .python-version selects)"; \
	  echo "or run 'make PYTHON=/path/to/python3.12 ...'."; \
	  exit 1; }

$(BIN)/python: | check-python
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -r requirements.txt
	touch $@

install: check-python $(VENV)/.installed

# A local .env with DEBUG on and a random secret; never committed (see .gitignore).
.env: | $(BIN)/python
	@printf 'DEBUG=1\nSECRET_KEY=%s\n' "$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(50))')" > $@
	@echo "Wrote .env (DEBUG=1, random SECRET_KEY) for local use."

migrate: install .env
	$(BIN)/python manage.py migrate --no-input

demo: migrate
	$(BIN)/python manage.py crm_demo

run: demo
	$(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: install .env lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: install .env
	$(BIN)/python bench/admin_lists.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .ruff_cache
