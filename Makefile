PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | cksum | cut -d' ' -f1)
# Debian keeps mosquitto and haproxy in /usr/sbin, often not on a normal user's PATH.
STACK_PATH := $(CURDIR)/$(BIN):/usr/sbin:/usr/local/sbin:$(PATH)
VAR := $(or $(PAYGATE_VAR_DIR),var)

.PHONY: demo test serve stack bench clean

# pip shows what it installs, so the first run is not 30 silent seconds.
$(STAMP): pyproject.toml
	@echo "== installing paygate and its dependencies into $(VENV) (first run only)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade --progress-bar off pip
	$(BIN)/python -m pip install --progress-bar off -e '.[dev]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

## The main job on embedded defaults (SQLite file under ./var; Mosquitto for the device part when installed).
demo: $(STAMP)
	$(BIN)/paygate demo

## The whole test suite, on SQLite and on real PostgreSQL (started if none is reachable), and the
## browser tests on Debian's Chromium (Playwright cannot download its own browser here).
test: $(STAMP)
	@test -x /usr/bin/chromium || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium; \
	  else echo "chromium is missing (the browser tests need /usr/bin/chromium): sudo apt-get install -y chromium"; exit 1; fi; }
	$(BIN)/python -m pytest

serve: $(STAMP)
	$(BIN)/paygate serve

## docker-compose.yml's topology without containers (Procfile, honcho): API on http://127.0.0.1:8000.
stack: $(STAMP)
	@for tool in mosquitto haproxy; do \
	  PATH="$(STACK_PATH)" command -v $$tool >/dev/null && continue; \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $$tool; \
	  else echo "$$tool is missing: sudo apt-get install -y $$tool"; exit 1; fi; \
	done
	$(BIN)/paygate db upgrade
	$(BIN)/paygate certs setup --port 8883
	@test -s $(VAR)/stack.env || { { \
	  echo "PAYGATE_MQTT_URL=mqtts://127.0.0.1:8883"; \
	  $(BIN)/paygate merchant create "Stack shop" | $(BIN)/python -c 'import json, sys; print("PAYGATE_API_KEY=" + json.load(sys.stdin)["secret_key"])'; \
	} > $(VAR)/stack.env.new && mv $(VAR)/stack.env.new $(VAR)/stack.env; }
	PATH="$(STACK_PATH)" $(BIN)/honcho -f Procfile -e $(VAR)/stack.env start

bench: $(STAMP)
	$(BIN)/python bench/payments.py

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
