# The two set-up commands (see README): `make demo` and `make test`. Both create .venv and install on first use.
# `make docs` renders the notebooks (stages executed on the sample) to _docs/.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export COMPNB_HEADLESS ?= 1

.PHONY: demo test docs lib install clean-runs pg

install: $(VENV)/.installed
$(VENV)/.installed: settings.ini setup.py pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

demo: install
	$(PY) scripts/demo.py

test: install
	$(PY) scripts/check_sync.py
	$(PY) scripts/readme.py --check
	$(VENV)/bin/nbdev_test --n_workers 1 --timing  # serial: torch and OpenMP (sklearn) threads in parallel notebooks starve each other (140 s vs 10 s)
	$(PY) -m pytest -q --durations=10 tests

docs: install
	$(PY) scripts/docs.py

lib:  # the library from the notebooks, and the notebooks cleaned
	$(VENV)/bin/nbdev_export && $(VENV)/bin/nbdev_clean

pg: install  # a throwaway PostgreSQL server for `compnb tune --storage <its URL>`; Ctrl-C stops and deletes it
	$(PY) scripts/pg.py

clean-runs:
	rm -rf runs
