# The two commands of the README: `make run` and `make test`. Everything else is a convenience.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
# Re-install only when pyproject.toml is newer than the last install.
STAMP := $(VENV)/.installed-stamp

.PHONY: help install run test lint migrate bench
.DEFAULT_GOAL := help

help:
	@echo "make run      install into $(VENV) and run the platform (embedded PostgreSQL and Redis, nothing to install)"
	@echo "make test     install, make sure PostgreSQL and Redis run, then ruff and the whole test suite"
	@echo "make lint     ruff check ."
	@echo "make migrate  apply database migrations"
	@echo "make bench    run every benchmark script in bench/ (those with a __main__ block)"

install: $(STAMP)

# The SDK and its `cpaas` command (sdk/python, decision 1201) are installed beside the platform.
$(STAMP): pyproject.toml sdk/python/pyproject.toml
	@echo "==> Installing the platform, the SDK and CLI, and the test tools into $(VENV)"
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[test,dev]' -e 'sdk/python[cli]'
	@touch $(STAMP)

run: $(STAMP)
	@scripts/run.sh

test: $(STAMP)
	@scripts/test.sh

lint: $(STAMP)
	$(BIN)/ruff check .

migrate: $(STAMP)
	$(BIN)/python manage.py migrate

bench: $(STAMP)
	@set -e; for f in $$(grep -l '^if __name__ == "__main__"' bench/*.py); do \
		echo "==> $$f"; PYTHONPATH=. $(BIN)/python $$f; done
