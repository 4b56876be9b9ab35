# Argus Streams: every routine task. `make help` lists them.
# The first run installs everything under the repository (.venv, .cache, target); later runs are fast.

SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
MVN := mvn -q -B -Dmaven.repo.local=$(CURDIR)/.cache/m2
JARS_STAMP := target/.jars-installed
VENV_STAMP := $(VENV)/.installed
COGNEE_VENV := .venv-cognee
COGNEE_STAMP := $(COGNEE_VENV)/.installed

.DEFAULT_GOAL := help
.PHONY: help setup jars venv cognee tools up down status demo test test-unit lint docs docs-capture bench bench-compare mutation schema sql-ddl clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV_STAMP): pyproject.toml dev/pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found (Python 3.11 is required)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]' -e dev
	@touch $@

$(COGNEE_STAMP): requirements-cognee.txt
	@test -x $(COGNEE_VENV)/bin/python || $(PYTHON) -m venv $(COGNEE_VENV)
	$(COGNEE_VENV)/bin/pip install -q --upgrade pip
	$(COGNEE_VENV)/bin/pip install -q -r requirements-cognee.txt
	@touch $@

$(JARS_STAMP): pom.xml java/*/pom.xml $(shell find java -name "*.java" -not -path "*/target/*")
	$(MVN) package
	@touch $@

venv: $(VENV_STAMP) ## create .venv and install the package (and the development package, dev/) with its pinned dependencies

cognee: $(COGNEE_STAMP) ## the optional Cognee enrichment's own venv (.venv-cognee, ~1.6 GB; the tests use it)

jars: $(JARS_STAMP) ## fetch the Kafka, Neo4j and Flink connector jars into target/ (Maven Central)

setup: venv jars ## everything the stack, jobs and tests need

up: setup ## start the local stack (idempotent) and provision the topics
	$(BIN)/argus-streams up

down: ## stop what `make up` started
	@test -x $(BIN)/argus-streams && $(BIN)/argus-streams down || true

status: ## health of every local service
	$(BIN)/argus-streams status

demo: setup ## the main job on the embedded default stack: stack up, jobs submitted, sample events through
	$(BIN)/argus-streams demo

lint: venv ## ruff and mypy
	$(BIN)/ruff check argus_streams dev jobs udfs tests bench docs
	$(BIN)/mypy argus_streams dev/argus_dev jobs udfs

tools: ## promtool for the deploy/ tests (Debian package `prometheus`)
	.ci/prepare-tools

docs: setup ## the docs site: generate the CLI and settings references and the jobs' topologies, mkdocs build --strict into site/
	$(BIN)/python docs/gen_reference.py
	$(BIN)/python docs/gen_topology.py >/dev/null
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

docs-capture: setup ## re-run `argus-streams demo` and the commands whose output the docs show; rewrite those outputs in the pages
	$(BIN)/python docs/capture.py

test: setup cognee tools lint docs ## the whole suite; starts (and stops) its own stack on ports +10000
	$(BIN)/pytest -q

test-unit: venv ## unit tests only (no stack)
	$(BIN)/pytest -q -m 'not integration'

bench: up ## benchmarks on the local stack (print figures; not tests)
	$(BIN)/python -m bench.producer_throughput
	$(BIN)/python -m bench.source_metadata_cost
	$(BIN)/python -m bench.failures_throughput

bench-compare: up ## the failure job side by side with the seed's consumer, Quix Streams and the limits (ARGS="--events 20000")
	@$(BIN)/python -c "import quixstreams" 2>/dev/null || $(BIN)/pip install -q -e '.[bench]'
	$(BIN)/python -m bench.side_by_side $(ARGS)

mutation: venv ## mutmut over signature.py, failures.py, healing/decisions.py (pyproject [tool.mutmut]; ~1 min)
	$(BIN)/pip install -q -e '.[mutation]'
	rm -rf mutants
	$(BIN)/mutmut run --max-children 2; $(BIN)/mutmut results

schema: venv ## export the JSON Schemas into schemas/
	$(BIN)/argus-streams schema --out schemas

sql-ddl: venv ## regenerate sql/ddl.sql (the topics' Flink SQL tables) from the catalog and schema
	$(BIN)/argus-streams sql ddl --template > sql/ddl.sql

clean: down ## remove generated files (keeps downloads in .cache)
	rm -rf target .state site docs/reference
