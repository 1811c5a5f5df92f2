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

## The whole test suite, on SQLite and on real PostgreSQL (started if none is reachable), and the
## browser tests on Debian's Chromium (installed with apt-get when run as root).
test: $(STAMP) chromium
	$(BIN)/python -m pytest

CHROMIUM := /usr/bin/chromium

.PHONY: chromium
chromium:
	@test -x $(CHROMIUM) || { \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y chromium; \
	  else \
	    echo "The browser tests need Debian's Chromium at $(CHROMIUM). Run:  sudo apt-get install -y chromium" >&2; exit 1; \
	  fi; }

serve: $(STAMP)
	$(BIN)/paygate serve

bench: $(STAMP)
	$(BIN)/python bench/payments.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
