PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)

.PHONY: demo test serve bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## The main job on embedded defaults (SQLite file under ./var; Mosquitto for the device part when installed).
demo: $(STAMP)
	$(BIN)/paygate demo

## The whole test suite, on SQLite and on real PostgreSQL (started if none is reachable).
test: $(STAMP)
	$(BIN)/python -m pytest

serve: $(STAMP)
	$(BIN)/paygate serve

bench: $(STAMP)
	$(BIN)/python bench/payments.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
