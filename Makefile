# Two entry points: `make run` (serve on 127.0.0.1:8080) and `make test` (the whole suite).
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Test processes (pytest-xdist): one per core by default, idle ones take queued tests from busy ones
# (worksteal: the long isolation sweeps no longer finish last on one worker); PYTEST_WORKERS=0: one process.
PYTEST_WORKERS ?= auto
export FLASK_APP := run.py

.PHONY: run test bootstrap install translations migrate roles lint extract-messages

$(STAMP): requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt -r requirements-dev.txt
	touch $@

install: $(STAMP)

translations: install
	$(BIN)/pybabel compile --statistics -d app/translations

migrate: install
	$(BIN)/flask db upgrade

roles: migrate
	$(BIN)/flask roles sync
	$(BIN)/flask seed

bootstrap: translations roles

run: bootstrap
	@echo
	@echo "First administrator (once): $(BIN)/flask fab create-admin   (prompts for name and password)"
	@echo "Serving on http://127.0.0.1:8080"
	$(BIN)/flask run --host 127.0.0.1 --port 8080

test: bootstrap
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

# Developer task: refresh the catalogues after changing user-visible strings.
extract-messages: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o app/translations/messages.pot --no-location --sort-output .
	$(BIN)/pybabel update -i app/translations/messages.pot -d app/translations --no-fuzzy-matching --ignore-obsolete
