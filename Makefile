# Backdrop: `make run` starts the app, `make test` runs the tests; both install what they need first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
HOST   ?= 127.0.0.1
PORT   ?= 5000
WORKERS ?= 1
export TF_CPP_MIN_LOG_LEVEL := 2

.PHONY: setup setup-test run test screenshots clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements.txt
	# Backdrop itself, editable: `from ml import remove` from anywhere and the `backdrop` command.
	$(PY) -m pip install -q -e . --no-deps
	touch $@

setup-test: $(VENV)/.installed-test

$(VENV)/.installed-test: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install -q -r requirements-dev.txt
	command -v chromium >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	# A C compiler for bench/no_avx512.c (timings as on a CPU without AVX-512).
	command -v cc >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev; }
	# Real servers for the two-instance and PostgreSQL tests (the tests start and stop them themselves).
	command -v redis-server >/dev/null 2>&1 && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql redis-server; }
	touch $@

run: setup
	@echo "Backdrop is starting on http://$(HOST):$(PORT)  (Ctrl+C to stop)"
	$(VENV)/bin/gunicorn --bind $(HOST):$(PORT) --workers $(WORKERS) --access-logfile - wsgi:app  # the rest: gunicorn.conf.py

test: setup-test
	$(PY) -m pytest -q

screenshots: setup-test
	BACKDROP_SCREENSHOT_DIR=docs/screenshots $(PY) -m pytest -q tests/web/test_browser.py tests/idphoto/test_idphoto_browser.py

clean:
	rm -rf $(VENV) .pytest_cache
