# `make demo` and `make test` do all the set-up they need on a fresh machine.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.sarflow-installed
BROWSER := $(VENV)/.browser-checked
APT    := $(if $(filter 0,$(shell id -u)),,sudo -n )apt-get
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

test: $(STAMP) $(BROWSER)
	$(BIN)/python -m pytest -q -n $(JOBS) tests

# Headless Chromium renders the `sarflow compare` report in a test: installed once where possible
# (Debian's package), otherwise that test is skipped.
$(BROWSER): | $(STAMP)
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || \
	  { ($(APT) update -qq && DEBIAN_FRONTEND=noninteractive $(APT) install -y -qq chromium) >/dev/null 2>&1 || \
	    echo "chromium could not be installed: the report-rendering test will be skipped"; }
	@touch $@

test-slow: $(STAMP)
	$(BIN)/python -m pytest -q -n $(JOBS) -m slow tests

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) demo-output build src/*.egg-info
