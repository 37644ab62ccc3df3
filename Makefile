# Developer and CI entry points. Every target installs what it needs first.

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
CORPUS ?= ../shared/corpus

# Tests run on the production stack; override either variable to point elsewhere.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_REDIS_URL    ?= redis://127.0.0.1:6379/0

.PHONY: venv lint test corpus corpus-report demo bench load-bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test corpus: export DATABASE_URL ?= $(TEST_DATABASE_URL)
test corpus: export REDIS_URL ?= $(TEST_REDIS_URL)

test: lint
	$(VENV)/bin/pytest -m "not corpus"

corpus: $(STAMP)
	@test -d "$(CORPUS)" || { echo "error: corpus not found at $(CORPUS) (set CORPUS=DIR)" >&2; exit 1; }
	SEGSCOPE_CORPUS="$(abspath $(CORPUS))" $(VENV)/bin/pytest -m corpus

# Per file: rules, chains, sets and what Segscope does not model (never fails on one bad file).
corpus-report: $(STAMP)
	@test -d "$(CORPUS)" || { echo "error: corpus not found at $(CORPUS) (set CORPUS=DIR)" >&2; exit 1; }
	-$(VENV)/bin/segscope report "$(CORPUS)/iptables" "$(CORPUS)/ipset" "$(CORPUS)/nftables"

# The demo is the embedded mode: SQLite, in-memory channel layer, eager Celery.
demo: $(STAMP)
	env -u DATABASE_URL -u REDIS_URL DEBUG=true $(PY) manage.py migrate --no-input
	env -u DATABASE_URL -u REDIS_URL DEBUG=true $(PY) manage.py ingest fixtures/demo
	env -u DATABASE_URL -u REDIS_URL DEBUG=true $(PY) manage.py demo_user
	@echo "Segscope demo: http://127.0.0.1:8000/ (Ctrl-C stops it)"
	env -u DATABASE_URL -u REDIS_URL DEBUG=true $(PY) manage.py runserver 127.0.0.1:8000

bench: $(STAMP)
	$(PY) -m bench

# The deployment (bin/web, bin/worker, bin/beat) under 1,000 simulated agents: about 25 minutes,
# on its own database and Redis db 14 (docs/benchmarks.md). LOAD_ARGS="--agents 100 ..." to change.
load-bench: $(STAMP)
	$(PY) -m bench.load_bench $(LOAD_ARGS)

clean:
	rm -rf build dist *.egg-info staticfiles db.sqlite3 \
		.pytest_cache .mypy_cache .ruff_cache .import_linter_cache .hypothesis
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
