# Two commands matter: `make demo` (set up, then sync sample contacts to the sandbox) and
# `make test` (set up, then lint, type-check and run the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest serve bench bench-throughput chaos clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python manage.py migrate --noinput --skip-checks -v 0
	$(BIN)/python manage.py crmsync_demo

test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy crmsync project

pytest: $(STAMP)
	@case "$${DATABASE_URL:-sqlite}" in postgres*) ;; *) \
	  echo "NOTE: DATABASE_URL is not PostgreSQL: the claim and concurrency suites are skipped."; \
	  echo "      Run them with DATABASE_URL=postgres://postgres@127.0.0.1:5432/crmsync make test";; esac
	@[ -n "$${REDIS_URL}" ] || { \
	  echo "NOTE: REDIS_URL is unset: the Redis rate-limiter and Celery-worker suites are skipped."; \
	  echo "      Run them with REDIS_URL=redis://127.0.0.1:6379/0 make test"; }
	$(BIN)/python -m pytest $(PYTEST_ARGS)

serve: $(STAMP)
	$(BIN)/python manage.py migrate --noinput -v 0
	./scripts/serve.sh

bench: bench-throughput

bench-throughput: $(STAMP)
	$(BIN)/python bench/throughput.py

chaos: $(STAMP)
	$(BIN)/python bench/chaos.py

clean:
	rm -rf $(VENV) db.sqlite3 .mypy_cache .ruff_cache .pytest_cache
