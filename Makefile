# Two entry points for a fresh machine with only python3: `make demo` and `make test`.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed

.PHONY: venv lock lint test test-fast demo e2e chaos bench docs clean

venv: $(STAMP)

$(STAMP): requirements/lock.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet -r requirements/lock.txt
	VIRTUAL_ENV=$(VENV) $(UV) pip install --quiet --no-deps -e .
	touch $(STAMP)

lock: venv
	VIRTUAL_ENV=$(VENV) $(UV) pip compile pyproject.toml --extra amazon --extra livekit --extra sim --extra dev --extra docs \
		--python-version 3.11 -c requirements/pins.txt -o requirements/lock.txt --no-header -q

lint: venv
	$(BIN)/ruff check airflow_provider_akool tests dags benchmarks
	$(BIN)/mypy airflow_provider_akool

test-fast: venv
	$(BIN)/pytest -q

test: lint test-fast

docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

# The end-to-end DAG with `airflow dags test` against akool-sim and a moto S3 server (~1 min).
demo: venv
	$(BIN)/python -m airflow_provider_akool.demo

# The same DAG through a real scheduler, dag-processor, triggerer and API server, with a triggerer
# restart while avatar waits are deferred (.ci/e2e).
e2e: venv
	.ci/e2e

clean:
	rm -rf $(VENV) build dist *.egg-info
