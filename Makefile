# Cohort: two commands on a fresh machine, `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
RUN_STAMP := $(VENV)/.installed
# The leaderboard card draws Chinese names with Noto Sans CJK (Debian's fonts-noto-cjk).
CJK_FONT := /usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
# The dashboard test drives Debian's chromium through Playwright (no browser download).
CHROMIUM := /usr/bin/chromium

.PHONY: run test lint typecheck pytest pytest-postgres bench clean fonts browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $@

# The dev install leaves bytecode to first use (--no-compile): pip would compile every file it
# installs (7,200 files, 121 MB of source, most never imported), where the test runs write it
# (PYTEST_ENV, below) for what they and their `python -m bot` import (collecting the suite
# imports 1,900 files, 39 MB). A fresh install took 35-46 s compiling, 21-24 s without.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet --no-compile -e '.[dev]'
	touch $@ $(RUN_STAMP)

# Installed once (as root, with apt); a no-op once the file is there.
$(CJK_FONT):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends fonts-noto-cjk >/dev/null; \
	else \
		echo "No Chinese font: install fonts-noto-cjk (sudo apt-get install fonts-noto-cjk)," \
			"or set points.card_font; the leaderboard card draws Chinese as boxes" >&2; \
	fi

fonts: $(CJK_FONT)

# Installed once (as root, with apt), like the font; without it the dashboard test fails on CI.
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "No browser for the dashboard test: install chromium" \
			"(sudo apt-get install chromium); the test skips without it, and fails under CI" >&2; \
	fi

browser: $(CHROMIUM)

# With a config.toml: run it. Without one: the demo community (./demo/, pretend payments).
run: $(RUN_STAMP) $(CJK_FONT)
	@if [ -f config.toml ]; then $(BIN)/cohort run --config config.toml; \
	else $(BIN)/cohort demo; fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# Two mypy processes: a clean clone has no cache, and one took 21-26 s where two take 15-16.
MYPY_WORKERS ?= 2

typecheck: $(STAMP)
	$(BIN)/mypy -n $(MYPY_WORKERS)

# Two workers (pytest-xdist): the suite on SQLite, then on a throwaway PostgreSQL server that
# .ci/with-postgres starts (installing Debian's postgresql when missing) and removes after.
# The PostgreSQL run leaves out the tests marked backend_free (tests/_backend_free.py).
PYTEST_WORKERS ?= 2
# xdist's default (`load`). `worksteal` was tried on 2026-12-07 and not kept: a clean-clone
# run's SQLite half took 342 s with it (and less CPU) against 276-288 s without.
PYTEST_DIST ?= load
# Bytecode is written even where PYTHONDONTWRITEBYTECODE is set (as on this project's machine):
# without it every worker and every `python -m bot` a test starts compiles bot/ again and
# pytest rewrites every test module's asserts again (6 s of CPU per worker just to collect).
PYTEST_ENV := PYTHONDONTWRITEBYTECODE=

pytest: $(STAMP) $(CJK_FONT) $(CHROMIUM)
	$(PYTEST_ENV) $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST)

pytest-postgres: $(STAMP) $(CJK_FONT) $(CHROMIUM)
	$(PYTEST_ENV) .ci/with-postgres $(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist $(PYTEST_DIST)

test: lint typecheck pytest pytest-postgres

bench: $(STAMP)
	$(PYTEST_ENV) $(BIN)/python -m benchmarks.table

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
