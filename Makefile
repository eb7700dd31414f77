# One target per thing a contributor does. Every target creates and uses its own virtualenv.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# One virtualenv, two stamps: `make demo` and `make sandbox` install only what they run
# (requirements-demo.txt); every other target adds the development tools (requirements-dev.txt).
DEMO_STAMP := $(VENV)/.installed-demo
STAMP      := $(VENV)/.installed

.PHONY: help venv demo sandbox test test-clock lint unit integration bench clean package tf-check tf-test tf-cloudsplaining

help:
	@echo "make demo     - full bastion lifecycle against a local moto server (no AWS, no credentials)"
	@echo "make sandbox  - the demo's deployment left running on loopback, to try by hand (docs/sandbox.md)"
	@echo "make test     - lint + the whole test suite (what CI runs)"
	@echo "make lint     - ruff + mypy --strict"
	@echo "make structure - functions over 40 lines, modules over 250, import cycles; exit 1 if any"
	@echo "make bench    - API calls, cold starts inside Lambda's CPU share (Python 3.12), sweeps; ~5 min"
	@echo "make package  - build dist/bastion-orchestrator.zip for Lambda (arm64, 3.12 bytecode)"
	@echo "make tf-check - terraform fmt/validate (module + examples) + checkov, offline"
	@echo "make tf-test  - apply the module to a local moto server and run the handlers"
	@echo "make tf-cloudsplaining - cloudsplaining over the roles of the module applied to moto, offline"

# `make test` reports where its time went: each timed step appends "label milliseconds" to
# $(TIMES); virtualenvs are timed apart (the 5-minute target excludes them).
TIMES := .make-times
timed = t0=$$(date +%s%N) && $(2) && echo "$(1) $$(( ($$(date +%s%N) - t0) / 1000000 ))" >> $(TIMES)

$(DEMO_STAMP): requirements.txt requirements-demo.txt
	@$(call timed,virtualenv:$(VENV),(test -x $(PY) || $(PYTHON) -m venv $(VENV)) \
	  && $(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip \
	  && $(PY) -m pip install --quiet --disable-pip-version-check -r requirements-demo.txt)
	touch $(DEMO_STAMP)

$(STAMP): $(DEMO_STAMP) requirements-dev.txt
	@$(call timed,virtualenv:$(VENV)+dev,$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt)
	touch $(STAMP)

venv: $(STAMP)

# Terraform, packaging, checkov and cloudsplaining targets live in mk/terraform.mk (package,
# tf-check, tf-cloudsplaining); `test` below needs its variables.
-include mk/*.mk

demo: $(DEMO_STAMP)
	$(PY) scripts/demo.py
	$(PY) scripts/demo_cli.py

# Runs until Ctrl-C; what to type in another terminal is printed (and in docs/sandbox.md).
sandbox: $(DEMO_STAMP)
	$(PY) tools/sandbox.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) tools/structure.py --check

# The code's shape (tools/structure.py): the longest functions, the largest modules, and any
# import cycle among the product's modules (lazy imports count, TYPE_CHECKING ones do not).
.PHONY: structure
structure: $(STAMP)
	$(PY) tools/structure.py --check

unit: $(STAMP)
	$(PY) -m pytest -m unit -q

integration: $(STAMP)
	$(PY) -m pytest -m integration -q

# Two workers (the build machine has two cores), one test file per worker at a time. The
# terraform moto example is applied once, in the background from the first second
# (--terraform-early, tests/support/early_stack.py); one worker runs every tests/terraform
# module against it, cloudsplaining's least-privilege scan included. lint and tf-check (one
# core each) run side by side first. The last line says where the time went.
test: test-clock
	@$(call timed,virtualenv:all-three-in-parallel,$(MAKE) --no-print-directory -j3 \
	  --output-sync=target TIMES=/dev/null $(STAMP) $(CHECKOV_STAMP) $(CLOUDSPLAINING_STAMP))
	@$(call timed,lint+tf-check,$(MAKE) --no-print-directory -j2 --output-sync=target lint tf-check)
	@$(call timed,pytest,CLOUDSPLAINING=$(CLOUDSPLAINING_VENV)/bin/cloudsplaining \
	  $(PY) -m pytest -q -n 2 --dist loadfile --terraform-early)
	@awk -v now=$$(date +%s%N) 'NR == 1 { start = $$2; next } \
	  { if ($$1 ~ /^virtualenv:/) venv += $$2; else steps = steps sprintf(", %s %.0f s", $$1, $$2 / 1000) } \
	  END { total = (now - start) / 1e6; \
	    printf "make test took %.0f s here: %.0f s without virtualenvs (%s), %.0f s building virtualenvs\n", \
	      total / 1000, (total - venv) / 1000, substr(steps, 3), venv / 1000 }' $(TIMES)

test-clock:
	@echo "start $$(date +%s%N)" > $(TIMES)

# The Lambda-like layout needs a Python 3.12 (LAMBDA_PYTHON, PATH or pyenv), as `package` does.
bench: $(STAMP)
	$(PY) tools/bench/bench.py
	$(PY) tools/bench/bench_readiness.py
	$(PY) tools/bench/bench_cli.py

clean:
	rm -rf $(VENV) .venv-checkov .venv-cloudsplaining dist build .mypy_cache .ruff_cache .pytest_cache

