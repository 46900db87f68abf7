# fks-tui: the two commands a new user needs are `make run` and `make test`.
PYTHON ?= python3
PIP ?= $(PYTHON) -m pip
STACK := scripts/stack
DOCKER_ENV = eval "$$($(STACK) env)"

.PHONY: install stack stack-down run headless test test-fast lint bench snapshots

install:
	$(PIP) install -q -e '.[dev]'

stack:
	$(STACK) up

stack-down:
	$(STACK) down

# The dashboard on the bundled demo services.toml.
run: install stack
	$(DOCKER_ENV) && fks-tui --config services.toml

# The same engine without the dashboard (what CI runs).
headless: install stack
	$(DOCKER_ENV) && fks-tui build --headless --config services.toml

# The whole suite, slow end-to-end tests on the real daemon included.
test: install stack
	$(DOCKER_ENV) && $(PYTHON) -m pytest -q -ra

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow"

lint:
	ruff check fks_tui tests bench
	ruff format --check fks_tui tests bench

bench: install stack
	$(DOCKER_ENV) && $(PYTHON) bench/concurrency.py
