# `make demo` and `make test` do all the set-up they need on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sarflow-installed
JOBS   ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: setup demo test test-slow bench clean

setup: $(STAMP)

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade "pip>=23.2"
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[nn,dask,dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python scripts/demo.py --out demo-output

test: $(STAMP)
	$(BIN)/python -m pytest -q -n $(JOBS) tests

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n $(JOBS) -m slow tests

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-output build src/*.egg-info
