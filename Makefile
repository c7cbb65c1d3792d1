# Each target creates or reuses the local virtualenv in .venv by itself, so a
# fresh clone needs only Python 3.11+ and make.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: demo test bench venv wheel clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras: the demo needs only the runtime dependencies; the
# benchmarks also use the test fakes (the crash and fault runs).
$(VENV)/.runtime: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.test: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.bench: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

venv: $(VENV)/.test

demo: $(VENV)/.runtime
	$(BIN)/sla-bridge demo

test: $(VENV)/.test
	$(BIN)/python -m pytest -q

bench: $(VENV)/.bench
	$(BIN)/python benchmarks/bench_calendar.py
	$(BIN)/python benchmarks/bench_engine.py
	$(BIN)/python benchmarks/bench_sync.py
	$(BIN)/python benchmarks/bench_sync.py --latency-run
	$(BIN)/python benchmarks/bench_report.py
	$(BIN)/python benchmarks/crash_run.py
	$(BIN)/python benchmarks/fault_run.py
	bash scripts/postgres-live.sh install
	bash scripts/postgres-live.sh start
	$(BIN)/python benchmarks/bench_replicas.py

# The wheel to install on a server: the engine compiled with mypyc (a C compiler and
# Python's headers needed; pip fetches setuptools and mypy into its build environment).
# `python3 -m pip wheel . --no-deps -w dist` without the variable makes a pure one.
wheel:
	rm -rf build/lib.* build/bdist.*   # setuptools would pack modules left there by an earlier build
	SLA_BRIDGE_COMPILE=1 $(PYTHON) -m pip wheel . --no-deps -w dist

clean:
	rm -rf $(VENV) build dist src/*.egg-info .pytest_cache .hypothesis
