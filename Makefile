# One target per thing a contributor does. Every target creates and uses its own virtualenv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: help venv demo test lint unit integration bench clean package tf-check tf-test tf-cloudsplaining

help:
	@echo "make demo     - full bastion lifecycle against a local moto server (no AWS, no credentials)"
	@echo "make test     - lint + the whole test suite (what CI runs)"
	@echo "make lint     - ruff + mypy --strict"
	@echo "make bench    - API calls, Lambda-like cold starts (Python 3.12), sweeps; ~3 min"
	@echo "make package  - build dist/bastion-orchestrator.zip for Lambda (arm64, 3.12 bytecode)"
	@echo "make tf-check - terraform fmt/validate (module + examples) + checkov, offline"
	@echo "make tf-test  - apply the module to a local moto server and run the handlers"
	@echo "make tf-cloudsplaining - cloudsplaining over the roles of the module applied to moto, offline"

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(PY) scripts/demo.py
	$(PY) scripts/demo_cli.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

unit: $(STAMP)
	$(PY) -m pytest -m unit -q

integration: $(STAMP)
	$(PY) -m pytest -m integration -q

# Two workers (the build machine has two cores), one test file per worker at a time; the
# terraform files share one apply per worker (session fixture). tf-cloudsplaining runs its
# scan on its own; the suite run skips that one file.
test: lint tf-check tf-cloudsplaining
	$(PY) -m pytest -q -n 2 --dist loadfile --ignore=tests/terraform/test_cloudsplaining.py

# The Lambda-like layout needs a Python 3.12 (LAMBDA_PYTHON, PATH or pyenv), as `package` does.
bench: $(STAMP)
	$(PY) scripts/bench.py
	$(PY) scripts/bench_cli.py

clean:
	rm -rf $(VENV) .venv-checkov .venv-cloudsplaining dist build .mypy_cache .ruff_cache .pytest_cache

# Terraform, packaging, checkov and cloudsplaining targets live in mk/terraform.mk (package,
# tf-check, tf-cloudsplaining).
-include mk/*.mk
