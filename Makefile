# Developer commands (interface §1). Each works from a fresh clone, without root and without Redis:
# the venv is made on first use, requirements are installed again only when requirements.txt
# changes, and a local Redis is started where none answers (scripts/local_redis.py).

SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
VENV_PYTHON := $(VENV)/bin/python
# Touched after a successful install; older than requirements.txt means "install again".
INSTALLED := $(VENV)/.requirements-installed
TEST_REDIS_URL ?= redis://127.0.0.1:6379/15
PYTEST_ARGS ?=
BENCH_ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help install run test lint bench migrate redis clean

help:
	@echo "make run      the service, worker and scheduler on this machine, with a sandbox demo"
	@echo "make test     the whole test suite (starts a local Redis if none answers)"
	@echo "make lint     ruff and mypy (both must report nothing)"
	@echo "make bench    the benchmarks (never part of make test)"
	@echo "make migrate  apply the database migrations (alembic upgrade head)"
	@echo "make clean    stop the Redis that make run/test started and remove var/"

$(VENV_PYTHON):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Python 3.11 or newer is needed (found $(PYTHON)); set PYTHON=..." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(INSTALLED): requirements.txt pyproject.toml | $(VENV_PYTHON)
	$(VENV_PYTHON) -m pip install --disable-pip-version-check -r requirements.txt
	@# This checkout itself, editable and without dependencies: puts crms-link in .venv/bin.
	$(VENV_PYTHON) -m pip install --disable-pip-version-check --no-deps --no-build-isolation -q -e .
	@touch $(INSTALLED)

install: $(INSTALLED)

run: install
	$(VENV_PYTHON) -m scripts.dev run

redis: install
	$(VENV_PYTHON) -m scripts.local_redis --url "$(TEST_REDIS_URL)"

test: redis
	TEST_REDIS_URL="$(TEST_REDIS_URL)" $(VENV_PYTHON) -m pytest $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy

bench: install
	$(VENV_PYTHON) -m scripts.local_redis
	$(VENV_PYTHON) -m bench $(BENCH_ARGS)

migrate: install
	$(VENV_PYTHON) -m scripts.dev migrate

clean:
	@if [ -x $(VENV_PYTHON) ]; then $(VENV_PYTHON) -m scripts.local_redis --stop; fi
	rm -rf var
