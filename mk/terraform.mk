# Terraform module, Lambda package and checkov. Included by the root Makefile, which
# defines PYTHON, PY and STAMP. No registry access: providers come from TF_PLUGIN_DIR.
TF_PLUGIN_DIR   ?= /opt/tf-plugins
TERRAFORM       ?= terraform
TF_DIRS         := terraform $(sort $(patsubst %/,%,$(dir $(wildcard terraform/examples/*/main.tf))))
CHECKOV_VENV    := .venv-checkov
CHECKOV_STAMP   := $(CHECKOV_VENV)/.installed
CHECKOV_VERSION := 3.3.30
CLOUDSPLAINING_VENV    := .venv-cloudsplaining
CLOUDSPLAINING_STAMP   := $(CLOUDSPLAINING_VENV)/.installed
CLOUDSPLAINING_VERSION := 0.9.1

# Terraform must not phone home (version checkpoint) or prompt.
export CHECKPOINT_DISABLE := 1
export TF_IN_AUTOMATION   := 1
export TF_INPUT           := 0

.PHONY: package tf-fmt tf-validate tf-checkov tf-check tf-test tf-cloudsplaining

package: $(STAMP)
	$(PY) scripts/package.py

tf-fmt:
	$(TERRAFORM) fmt -check -recursive -diff terraform

tf-validate:
	@set -e; for dir in $(TF_DIRS); do \
	  echo "terraform validate $$dir"; \
	  $(TERRAFORM) -chdir=$$dir init -backend=false -plugin-dir=$(TF_PLUGIN_DIR) -input=false -no-color >/dev/null; \
	  $(TERRAFORM) -chdir=$$dir validate -no-color; \
	done

$(CHECKOV_STAMP):
	@$(call timed,virtualenv:$(CHECKOV_VENV),$(PYTHON) -m venv $(CHECKOV_VENV) \
	  && $(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check checkov==$(CHECKOV_VERSION))
	touch $(CHECKOV_STAMP)

# Offline (no guideline download), every failed check fails the target; skips are inline
# `#checkov:skip=CKV_...:reason` comments next to the resource they concern.
tf-checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov --directory terraform --framework terraform \
	  --skip-download --quiet --compact \
	  --skip-path '\.terraform'

tf-check: tf-fmt tf-validate tf-checkov

$(CLOUDSPLAINING_STAMP):
	@$(call timed,virtualenv:$(CLOUDSPLAINING_VENV),$(PYTHON) -m venv $(CLOUDSPLAINING_VENV) \
	  && $(CLOUDSPLAINING_VENV)/bin/python -m pip install --quiet --disable-pip-version-check cloudsplaining==$(CLOUDSPLAINING_VERSION))
	touch $(CLOUDSPLAINING_STAMP)

# Least privilege judged by cloudsplaining, offline: examples/moto applied to a local moto
# server, `get-account-authorization-details` exported (the example's developer role
# included) and scanned; any privilege-escalation, data-exfiltration, resource-exposure or
# credentials-exposure finding on any role fails. Exclusions, each justified on its line:
# tests/terraform/cloudsplaining-exclusions.yml.
tf-cloudsplaining: $(STAMP) $(CLOUDSPLAINING_STAMP)
	CLOUDSPLAINING=$(CLOUDSPLAINING_VENV)/bin/cloudsplaining \
	  $(PY) -m pytest -q -m terraform tests/terraform/test_cloudsplaining.py

tf-test: $(STAMP)
	$(PY) -m pytest -m terraform -q
