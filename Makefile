# ccpm — run `make help` for the targets. CI runs `make test` (via .ci/run).
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
UV     := $(BIN)/uv
STAMP  := $(VENV)/.installed
BYTECODE := $(VENV)/.bytecode
# Sample report inputs: built-in synthetic data.
SAMPLE := data/sample
# The Anonymous Bank 1999 logs ship in data/external/ (free for use with acknowledgement).
BANK   := data/external/anonymous_bank_1999
# The one setting for data sets the project may not ship (PwC, honeycomb; their tests skip with
# the reason where missing, and fail under CI=true): make test CCPM_SHARED_DATA=/path/to/data
CCPM_SHARED_DATA ?=
export CCPM_SHARED_DATA
PYTEST_ARGS ?=

.PHONY: help setup system-deps lock report report-zh case-study screenshots test lint bench clean

help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@test -x $(UV) || $(BIN)/python -m pip install --quiet --disable-pip-version-check uv
	$(UV) pip sync --python $(BIN)/python requirements.lock
	$(UV) pip install --python $(BIN)/python --no-deps -e .
	@touch $(STAMP)

# Byte-compile the installed packages once: uv installs without .pyc files, and where
# PYTHONDONTWRITEBYTECODE is set (CI, containers) every ccpm command would otherwise compile
# pandas, pyarrow and DuckDB's Python modules again at start-up (~2-4 s of CPU per run).
$(BYTECODE): $(STAMP)
	-@$(BIN)/python -m compileall -q -j 0 \
	  "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" > /dev/null 2>&1
	@touch $@

setup: system-deps $(STAMP) $(BYTECODE) ## Create .venv and install everything (idempotent)

system-deps: ## Install system packages (a CJK font for Chinese reports) where missing
	@bash scripts/system-deps.sh

lock: ## Re-resolve requirements.lock from pyproject.toml
	@test -x $(UV) || { $(PYTHON) -m venv $(VENV) && $(BIN)/python -m pip install --quiet uv; }
	$(UV) pip compile pyproject.toml --extra dev --extra spark --python-version 3.11 -o requirements.lock

SAMPLE_INPUTS = --calls $(SAMPLE)/calls.parquet --ratings $(SAMPLE)/ratings_360.csv \
	--okr $(SAMPLE)/okr.yml --roster $(SAMPLE)/roster.csv --truth $(SAMPLE)/truth.csv

$(SAMPLE)/calls.parquet: | $(STAMP)
	$(BIN)/ccpm synth --out $(SAMPLE) --agents 60 --days 61 --seed 7

report: setup $(SAMPLE)/calls.parquet ## Render the sample report (synthetic center) into reports/sample/
	$(BIN)/ccpm report $(SAMPLE_INPUTS) --power --out reports/sample

report-zh: setup $(SAMPLE)/calls.parquet ## The sample report in Simplified Chinese, into reports/sample-zh/
	$(BIN)/ccpm report $(SAMPLE_INPUTS) --power --lang zh-CN --out reports/sample-zh \
	  $(if $(wildcard reports/sample/build/results/key.json),--results-from reports/sample)

case-study: setup ## Case study: the Anonymous Bank 1999 logs (shipped in data/external/), into reports/anonymous-bank/
	$(BIN)/ccpm report --calls $(BANK) --mapping anonymous-bank --short-call-s 15 --power \
	  --out reports/anonymous-bank

screenshots: ## README screenshots: page 1 of the current sample and case-study reports (run make report case-study first)
	@for r in sample anonymous-bank; do \
	  test -f reports/$$r/report.pdf || { echo "screenshots: reports/$$r/report.pdf missing: run make report case-study" >&2; exit 2; }; \
	  pdftoppm -png -r 90 -f 1 -l 1 -singlefile reports/$$r/report.pdf reports/$$r-page1 || exit 2; \
	  echo "wrote reports/$$r-page1.png"; done

test: setup ## Run the test suite
	$(BIN)/python -m pytest -n 2 -rs $(PYTEST_ARGS)

lint: setup ## Static checks (ruff)
	$(BIN)/ruff check src tests benchmarks

bench: setup ## Benchmarks (slow: 10-million-row runs, power tables); results in benchmarks/results/
	$(BIN)/python benchmarks/run_all.py

clean: ## Remove build output (keeps .venv)
	rm -rf build reports/sample reports/sample-zh reports/anonymous-bank $(SAMPLE) .pytest_cache
