# Two entry points for a fresh machine with only python3: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed

.PHONY: venv lock lint test test-fast demo e2e e2e-celery chaos bench docs clean

venv: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet -r requirements/lock.txt
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet --no-deps -e .
	touch $(STAMP)

lock: venv
	VIRTUAL_ENV=$(VENV) $(UV) pip compile pyproject.toml --extra amazon --extra livekit --extra sim --extra celery --extra dev --extra docs \
		--python-version 3.11 -c requirements/pins.txt -o requirements/lock.txt --no-header -q

# ruff, mypy --strict, the layer contracts in pyproject.toml ([tool.importlinter]; docs/development.md)
# and the formatting check. akool_demo/ is the demo and e2e tooling: linted and typed, not in the wheel.
LINTED := airflow_provider_akool tests dags benchmarks akool_demo
lint: venv
	$(BIN)/ruff check $(LINTED)
	$(BIN)/mypy airflow_provider_akool akool_demo
	$(BIN)/lint-imports
	$(BIN)/ruff format --check $(LINTED)

test-fast: venv
	$(BIN)/pytest -q

test: lint test-fast

docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The end-to-end DAG with `airflow dags test` against akool-sim and SeaweedFS as the S3 (~1 min).
demo: venv
	$(BIN)/python -m akool_demo

# The same DAG through a real scheduler, dag-processor, triggerer and API server, with a triggerer
# restart while avatar waits are deferred (.ci/e2e).
e2e: venv
	.ci/e2e

# The same DAG on a distributed Airflow: CeleryExecutor with two workers, PostgreSQL, Redis (installed
# with apt-get when missing), SeaweedFS; a clean run, then a run with a worker SIGKILLed mid-session.
e2e-celery: venv
	.ci/e2e-celery

# Reliability proof (docs/reliability.md): kill matrix, DAG-run secret scan, the SIGTERM test, then
# the fault matrix (end-to-end DAG x fault rates x seeds; ~55 s per run, about 40 min for 2 x 20).
# Fails if any of them failed; the matrix's per-run results go to CHAOS_OUT (a temp dir if unset).
CHAOS_RATES ?= 0.1,0.2
CHAOS_SEEDS ?= 20
CHAOS_OUT   ?=
chaos: venv
	@status=0; \
	AKOOL_CHAOS=1 $(BIN)/pytest -q -m chaos tests/reliability || status=1; \
	$(BIN)/pytest -q tests/sessions/test_session_sigterm.py || status=1; \
	$(BIN)/python tests/reliability/fault_matrix.py --rates $(CHAOS_RATES) --seeds $(CHAOS_SEEDS) \
		$(if $(CHAOS_OUT),--out $(CHAOS_OUT)) || status=1; \
	exit $$status

clean:
	rm -rf $(VENV) build dist *.egg-info

# The test suite on the oldest supported Airflow (3.1.x), in its own venv from
# requirements/lock-airflow-3.1.txt (compiled like lock.txt, with -c requirements/pins-airflow-3.1.txt).
VENV_OLDEST := .venv-3.1

.PHONY: test-oldest e2e-oldest

$(VENV_OLDEST)/.installed: requirements/lock-airflow-3.1.txt pyproject.toml
	$(PYTHON) -m venv $(VENV_OLDEST)
	$(VENV_OLDEST)/bin/python -m pip install --quiet --disable-pip-version-check uv
	VIRTUAL_ENV=$(VENV_OLDEST) $(VENV_OLDEST)/bin/uv pip install --quiet -r requirements/lock-airflow-3.1.txt
	VIRTUAL_ENV=$(VENV_OLDEST) $(VENV_OLDEST)/bin/uv pip install --quiet --no-deps -e .
	touch $@

test-oldest: $(VENV_OLDEST)/.installed
	$(VENV_OLDEST)/bin/pytest -q $(PYTEST_ARGS)

# make e2e on Airflow 3.1 (real scheduler, triggerer crash and restart).
e2e-oldest: $(VENV_OLDEST)/.installed
	$(VENV_OLDEST)/bin/python -m akool_demo.e2e

# The browser test (tests/ui): Debian's chromium driven by Playwright against a real Airflow
# (api-server, scheduler, dag-processor, triggerer) and akool-sim on 127.0.0.1; about 3 minutes.
# Installs chromium with apt-get when it is missing (no browser download).
# `make ui-test-oldest` runs it on Airflow 3.1 (its UI and API differ; the Test icon must work on both).
.PHONY: ui-test ui-test-oldest chromium
chromium:
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

ui-test: venv chromium
	AKOOL_UI_TEST=1 $(BIN)/pytest -q -s tests/ui

ui-test-oldest: $(VENV_OLDEST)/.installed chromium
	AKOOL_UI_TEST=1 $(VENV_OLDEST)/bin/pytest -q -s tests/ui
