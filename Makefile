# The two commands of the README: `make demo` and `make test`. Both build .venv first.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): requirements.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) bot.py demo

test: $(STAMP)
	$(VENV)/bin/ruff check .
	$(PY) -m pytest -q


lint: $(STAMP)
	$(VENV)/bin/ruff check .

bench: $(STAMP)
	$(PY) -m bench

# The crash test of issue 12, long form: several seeds, a whole session each (09:10-15:35 on
# the exchange's clock), the agent killed and the exchange faulted; prints the figures.
# `make chaos CHAOS_ARGS="--seeds 1 --json chaos.json"` to change them; the short form runs
# inside `make test` (tests/chaos/test_chaos_short.py).
CHAOS_ARGS ?= --seeds 3 --speed 100 --kills 8

.PHONY: chaos
chaos: $(STAMP)
	$(PY) -m tests.chaos $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
