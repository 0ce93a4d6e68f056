# The two commands a new user needs: `make demo` and `make test`.
# Each creates (or reuses) .venv and installs what it needs, so a fresh
# machine with Python 3.11+ and make is enough.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

BENCH_VENV := .venv-bench
BENCH_STAMP := $(BENCH_VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean bench-live

$(PY):
	@echo "==> creating $(VENV) with $(PYTHON)"
	@$(PYTHON) -m venv $(VENV) || { \
	  echo "==> python venv module missing; installing python3-venv (Debian)"; \
	  apt-get update -qq && apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); }

$(STAMP): pyproject.toml | $(PY)
	@echo "==> installing slack-alerts and its dev tools into $(VENV) (first run takes a minute or two)"
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet --progress-bar off -e '.[dev]'
	@touch $(STAMP)

demo: $(STAMP)
	@echo "==> slack-alerts demo (loading Prefect takes a few seconds)"
	@$(VENV)/bin/slack-alerts demo

lint: $(STAMP)
	@echo "==> ruff"
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	@echo "==> mypy"
	@$(VENV)/bin/mypy

# Three workers on two cores: most of the suite waits on servers and
# subprocesses. One test file stays on one worker (its module fixtures start
# servers once); end-to-end files start first (tests/conftest.py).
PYTEST_ARGS ?= -n 3 --dist loadfile

pytest: $(STAMP)
	@echo "==> pytest"
	@$(VENV)/bin/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

# The peers live in their own venv: they are not project dependencies, and
# Evidently 0.7 needs pandas < 3.
$(BENCH_STAMP): pyproject.toml
	@echo "==> creating $(BENCH_VENV) with the peers (Evidently, fairlearn, slack_sdk, prefect-slack)"
	@test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	@$(BENCH_VENV)/bin/python -m pip install --quiet --upgrade pip
	@$(BENCH_VENV)/bin/python -m pip install --quiet --progress-bar off -e '.[dev]' \
	  'pandas<3' 'evidently>=0.7,<0.8' slack_sdk prefect-slack
	@touch $(BENCH_STAMP)

bench: $(BENCH_STAMP)
	@$(BENCH_VENV)/bin/python benchmarks/bench.py $(BENCH_ARGS)
	@$(BENCH_VENV)/bin/python benchmarks/storm.py

# Verified Slack button presses per second on one core (p99), and alert -> updated message.
.PHONY: bench-interactions
bench-interactions: $(STAMP)
	@$(PY) benchmarks/interactions.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) $(BENCH_VENV) outbox .pytest_cache .mypy_cache .ruff_cache

# A fleet of 1,000 models on a Prefect server on PostgreSQL with process workers
# (loads its table once, ~10M rows; takes a while: not part of `make bench`).
.PHONY: bench-fleet
bench-fleet: $(STAMP)
	@$(PY) benchmarks/fleet.py $(BENCH_ARGS)

# Live-data benchmark (PostgreSQL on 127.0.0.1; caches its 1M and 10M tables between runs).
bench-live: $(STAMP)
	@$(PY) benchmarks/live.py $(BENCH_ARGS)
