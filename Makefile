# Two commands matter: `make demo` (set up, then sync sample contacts to the sandbox) and
# `make test` (set up, then lint, type-check and run the whole suite).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test test-browser browsers lint typecheck pytest serve bench bench-throughput bench-host chaos chaos-oauth chaos-hosts mutation clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python manage.py migrate --noinput --skip-checks -v 0
	$(BIN)/python manage.py crmsync_demo $(DEMO_ARGS)

test: $(STAMP) browsers lint typecheck pytest

# The browser tests alone (tests/browser: the admin in headless chromium); screenshots in
# artifacts/screenshots/.
test-browser: $(STAMP) browsers
	$(BIN)/python -m pytest -m browser $(PYTEST_ARGS)

# The browser tests drive Debian's chromium package (Playwright's own browser downloads
# cannot be fetched here): installed through apt when missing and we are root, otherwise
# say how. Without it the browser tests fail, unless CRMSYNC_SKIP_BROWSER_TESTS=1.
CHROMIUM = $${CRMSYNC_CHROMIUM:-/usr/bin/chromium}
browsers:
	@chromium="$(CHROMIUM)"; \
	if [ -x "$$chromium" ] || [ -n "$${CRMSYNC_SKIP_BROWSER_TESTS#0}" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests (tests/browser)"; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium fonts-liberation; \
	else \
	  echo "NOTE: no chromium at $$chromium, and it cannot be installed here: the browser"; \
	  echo "      tests will fail. Install it (sudo apt-get install chromium), point"; \
	  echo "      CRMSYNC_CHROMIUM at a chromium, or skip them: CRMSYNC_SKIP_BROWSER_TESTS=1"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(STAMP)
	$(BIN)/mypy crmsync project bench

pytest: $(STAMP)
	@case "$${DATABASE_URL:-sqlite}" in postgres*) ;; *) \
	  echo "NOTE: DATABASE_URL is not PostgreSQL: the claim and concurrency suites are skipped."; \
	  echo "      Run them with DATABASE_URL=postgres://postgres@127.0.0.1:5432/crmsync make test";; esac
	@[ -n "$${REDIS_URL}" ] || { \
	  echo "NOTE: REDIS_URL is unset: the Redis rate-limiter and Celery-worker suites are skipped."; \
	  echo "      Run them with REDIS_URL=redis://127.0.0.1:6379/0 make test"; }
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Admin on :8000, sandbox on :8765, a Celery worker and beat on Redis; Ctrl-C stops all.
SERVE_ENV := REDIS_URL=$${REDIS_URL:-redis://127.0.0.1:6379/0} \
	HUBSPOT_API_BASE_URL=$${HUBSPOT_API_BASE_URL:-http://127.0.0.1:8765} \
	HUBSPOT_ACCESS_TOKEN=$${HUBSPOT_ACCESS_TOKEN:-serve-sandbox-token}
serve: $(STAMP)
	$(BIN)/python manage.py migrate --noinput --skip-checks -v 0
	DJANGO_SUPERUSER_PASSWORD=admin $(BIN)/python manage.py createsuperuser --noinput \
	  --username admin --email admin@example.com --skip-checks 2>/dev/null || true
	trap 'kill 0' INT TERM EXIT; \
	$(BIN)/python manage.py crmsync_sandbox --port 8765 --token serve-sandbox-token & \
	$(SERVE_ENV) $(BIN)/celery -A project worker --loglevel=INFO & \
	$(SERVE_ENV) $(BIN)/celery -A project beat --loglevel=INFO --schedule /tmp/crmsync-beat & \
	$(SERVE_ENV) $(BIN)/python manage.py runserver 127.0.0.1:8000

# The throughput bench, then the registered-host-model bench (docs/benchmarks.md); one after
# the other, never at once: both measure the same two cores. BENCH_ARGS: e.g. --quick.
bench: $(STAMP)
	$(MAKE) bench-throughput
	$(MAKE) bench-host

bench-throughput: $(STAMP)
	$(BIN)/python -m bench.throughput $(BENCH_ARGS)

bench-host: $(STAMP)
	$(BIN)/python -m bench.host_models $(BENCH_ARGS)

# CHAOS_ARGS: e.g. --write-mode both (create and upsert mode, held rows side by side).
chaos: $(STAMP)
	$(BIN)/python -m bench.chaos $(CHAOS_ARGS)

# The same with OAuth: access tokens expiring every 4 s across the workers (bench/chaos_oauth.py).
chaos-oauth: $(STAMP)
	$(BIN)/python -m bench.chaos --oauth-token-seconds 4 $(CHAOS_ARGS)

# The chaos run on 3 hosts made as network namespaces (root only; docs/chaos.md, "Several
# hosts"): partitions, a skewed clock, pg_terminate_backend, Redis restarts, SIGTERM/SIGKILL.
# HOSTS_ARGS: e.g. --contacts 2000, or --no-host-faults for the baseline.
chaos-hosts: $(STAMP)
	$(BIN)/python -m bench.hosts $(HOSTS_ARGS)

# Mutation testing (mutmut; not part of `make test`): each module's mutants against
# tests/test_{matching,outcomes,mapping,writeback}.py, then its score; crmsync/db.py also gets
# the hand-made SQL mutations of bench/mutate_sql.py. db.py needs PostgreSQL:
#   DATABASE_URL=postgres://postgres@127.0.0.1:5432/crmsync make mutation [MODULE=crmsync/db.py]
# MODULE: one of crmsync/sync/matching.py crmsync/sync/outcomes.py crmsync/mapping.py
# crmsync/db.py (default: each in turn). MUTATION_JOBS: mutants run at once (default 1).
MUTATION_JOBS ?= 1
mutation: $(STAMP)
	$(BIN)/python -m bench.mutation --jobs $(MUTATION_JOBS) $(MODULE)

clean:
	rm -rf $(VENV) db.sqlite3 .mypy_cache .ruff_cache .pytest_cache mutants
