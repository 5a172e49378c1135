# Game Day. Every target does its own set-up; run `make help` for the list.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
PYTEST := $(PY) -m pytest
RESULTS := reports/allure-results
STAMP := $(VENV)/.installed

help:  ## list the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

$(STAMP): pyproject.toml
	@echo "[setup] virtual environment and project ..."
	@start=$$(date +%s); \
	 command -v python3 >/dev/null || { echo "[setup] FAILED: python3 (3.11+) is needed"; exit 2; }; \
	 test -x $(PY) || python3 -m venv $(VENV) && \
	 $(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]' 2>&1 \
	   | grep -v "^WARNING: Location" ; \
	 test $${PIPESTATUS[0]} -eq 0 && touch $(STAMP) && \
	 echo "[setup] virtual environment and project: ok ($$(( $$(date +%s) - start ))s)"

venv: $(STAMP)  ## the virtual environment with the project installed

setup: $(STAMP)  ## venv, Docker engine, base image, wheelhouse and every image of the stack
	@$(PY) -m fixtures.bootstrap

test: setup  ## every test: unit, rules, stack, synthetic, scenarios and their broken variants
	@$(PYTEST) suites --explore-examples 3 --variants sample --junitxml=reports/junit.xml \
		--alluredir=$(RESULTS) --clean-alluredir $(ARGS)

variants: setup  ## every broken variant of every scenario: each must fail in its phase and category (shard=I/N: the variants of one shard's scenarios)
	@$(PYTEST) suites/scenarios/test_broken_variants.py --variants all $(if $(shard),--shard $(shard)) \
		--junitxml=reports/junit-variants.xml --alluredir=$(RESULTS) --clean-alluredir $(ARGS)

chaos: $(STAMP)  ## one scenario: make chaos scenario=NAME (plan=1: print what it would do, do nothing)
	@$(PY) -m gameday.catalog --check "$(scenario)"
ifdef plan
	@$(PY) -m gameday.plan --scenario "$(scenario)"
else
	@$(MAKE) --no-print-directory setup
	@$(PYTEST) suites/scenarios/test_scenarios.py --scenario "$(scenario)" \
		--junitxml=reports/junit-chaos.xml --alluredir=$(RESULTS) --clean-alluredir $(ARGS)
endif

gameday: $(STAMP)  ## every scenario, then the incident reports and the summary (shard=I/N: one shard; jobs=N: N shards at once, merged; plan=1: print what it would do, do nothing)
ifdef plan
	@$(PY) -m gameday.plan $(if $(shard),--shard $(shard))
else ifdef jobs
	@$(MAKE) --no-print-directory setup
	@$(PY) -m gameday.jobs --jobs $(jobs) -- $(ARGS)
else
	@$(MAKE) --no-print-directory setup
	@$(PYTEST) suites/scenarios/test_scenarios.py $(if $(shard),--shard $(shard)) \
		--junitxml=reports/junit-gameday.xml --alluredir=$(RESULTS) --clean-alluredir $(ARGS)
endif

explore: setup  ## random fault sequences, shrunk when one fails: make explore [examples=N] [seed=S] [variant=no-outbox]
	@$(PYTEST) suites/explore --explore-examples $(or $(examples),10) \
		$(if $(seed),--hypothesis-seed $(seed)) $(if $(variant),--explore-variant $(variant)) \
		--junitxml=reports/junit-explore.xml --alluredir=$(RESULTS) --clean-alluredir $(ARGS)

synthetic: $(STAMP)  ## the validation checks against a running deployment: make synthetic url=http://HOST:8080 key=API_KEY
	@test -n "$(url)" || { echo "usage: make synthetic url=http://HOST:8080 [key=API_KEY] [prometheus=URL] [alertmanager=URL] (or the key in env MMLLM_API_KEY)"; exit 2; }
	@$(if $(key),MMLLM_API_KEY="$(key)") $(PYTEST) suites/synthetic --target-url "$(url)" \
		$(if $(prometheus),--prometheus-url "$(prometheus)") \
		$(if $(alertmanager),--alertmanager-url "$(alertmanager)") \
		--junitxml=reports/junit-synthetic.xml --alluredir=reports/allure-synthetic $(ARGS)

monitor: $(STAMP)  ## the deployment's synthetic monitor against any deployment, until Ctrl-C: make monitor url=http://HOST:8080 key=API_KEY [port=9115]
	@test -n "$(url)" || { echo "usage: make monitor url=http://HOST:8080 [key=API_KEY] [port=9115] (or the key in env MMLLM_API_KEY)"; exit 2; }
	@$(if $(key),MMLLM_API_KEY="$(key)") $(PY) target/images/synthetic-monitor/monitor.py \
		--config target/monitoring/health-checks.yml --base-url "$(url)" \
		--listen 127.0.0.1 --port $(or $(port),9115) --summary-every 10

report: $(STAMP)  ## Allure HTML in reports/html (installs the npm allure package if needed)
	@$(PY) -m reporting.allure_html

bench: setup  ## figures through the game day's runner: medians, alert ratios, restore vs replace, model latency and memory (ARGS="--repeat 3")
	@$(PY) bench/gameday.py $(ARGS)

lint: $(STAMP)  ## ruff
	@$(VENV)/bin/ruff check .

abort: $(STAMP)  ## the kill switch: revert every fault in force on this machine, its run stopped first (run=ID: one stack's only)
	@$(PY) -m gameday.abort $(if $(run),--run $(run))

clean:  ## remove every container, network and volume the project ever started
	@if [ -x $(PY) ]; then $(PY) -m fixtures.sweep --all; fi

.PHONY: help venv setup test variants chaos gameday explore synthetic report bench lint clean
