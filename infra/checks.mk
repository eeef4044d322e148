# Infrastructure check tools, included by the Makefile. checkov lives in its own venv (.venv-checkov): it pins
# many libraries (boto3, pydantic, networkx...) that would clash with the app's. tests/infra runs it.
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

$(CHECKOV_STAMP): requirements-infra.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install -q --disable-pip-version-check -r requirements-infra.txt
	$(CHECKOV) --version
	@touch $@

.PHONY: infra-tools infra-check
infra-tools: $(CHECKOV_STAMP)

# The same scan tests/infra/test_checkov.py runs, printed for people.
infra-check: $(CHECKOV_STAMP)
	$(CHECKOV) -d infra --framework bicep --skip-download --external-checks-dir infra/policies --compact --quiet
