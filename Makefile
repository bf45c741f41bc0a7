# The front door. A fresh machine needs only Python 3.11+: everything else is installed from the lock.
SHELL := /bin/bash
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
# promtool, built from source by `make install` (tests/deploy/test_deploy_monitoring.py reads the version here).
PROMTOOL_VERSION := v0.316.0
PROMTOOL := $(TOOLS)/promtool/$(PROMTOOL_VERSION)/promtool
# The standards' own checkers from npm (Redocly CLI, the AsyncAPI parser), pinned in the committed lock.
STANDARDS := tools/standards
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
# BROKER: the embedded broker of make run / chaos (tansu or kafka, default tansu) and of make bench
# (tansu, kafka or both, default both). REPLICAS: processes per service in make run.
REPLICAS ?= 1

.PHONY: help install promtool standards-tools run test lint typecheck bench chaos profile journey clean

help:
	@echo "make run      start the whole platform on embedded PostgreSQL and Kafka (Ctrl-C stops it)"
	@echo "              BROKER=kafka: on a three-node Apache Kafka cluster (needs Java 17+ and Maven)"
	@echo "              REPLICAS=2: two processes of every service"
	@echo "make test     run the whole test suite on real servers"
	@echo "make lint     ruff and mypy"
	@echo "make bench    run the benchmarks and write docs/benchmarks"
	@echo "make chaos    inject faults under load, check nothing is lost or doubled, write docs/benchmarks"
	@echo "make profile  where a complaint's CPU goes (py-spy per service), write docs/benchmarks/profile.md"
	@echo "make journey ID=<complaint id>   print a complaint's journey from the local spans"

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

# --compile-bytecode: where PYTHONDONTWRITEBYTECODE is set (as on these machines) Python never
# caches what it compiles, so every service process the tests start would compile its libraries
# again (measured: importing a service took 3.2 s of CPU, 1.4 s with the bytecode installed).
$(VENV)/.synced: $(UV) uv.lock pyproject.toml libs/*/pyproject.toml services/*/pyproject.toml Makefile
	$(UV) sync --frozen --all-packages --all-groups --quiet --compile-bytecode
	@touch $@

install: $(VENV)/.synced $(TOOLS)/.kafka-installed $(PROMTOOL)

# Apache Kafka's jars resolve from Maven Central here, once, where Java and Maven exist (the stamp
# stays missing where they do not, and each make says so in one line; Tansu serves instead).
$(TOOLS)/.kafka-installed: $(VENV)/.synced libs/devstack/kafka/pom.xml
	@$(VENV)/bin/complaints-dev install-kafka && $(VENV)/bin/python -c \
		"import sys; from complaints_devstack import kafka; sys.exit(0 if kafka.installed() else 1)" \
		&& touch $@ || true

# promtool (Prometheus's rule checker) built once from the Go module proxy into .tools/promtool,
# pinned; offline afterwards. Without Go, one line says so and the tests skip only the promtool
# checks. `remove_all_sd` leaves out the cloud service discoveries, which rule checks never use:
# a fresh build takes about 3.5 min on two cores instead of several times that.
$(PROMTOOL):
	@if command -v go >/dev/null 2>&1; then \
		GOBIN=$(CURDIR)/$(dir $(PROMTOOL)) GOFLAGS=-mod=mod go install -tags remove_all_sd \
			github.com/prometheus/prometheus/cmd/promtool@$(PROMTOOL_VERSION); \
	else echo "go not found: the promtool checks of the alert rules are skipped"; fi

promtool: $(PROMTOOL)

# npm ci from the lock into tools/standards/node_modules (ignored by git); no install scripts run.
# Without npm, one line says so and the tests skip only the checks that need node.
$(STANDARDS)/node_modules/.installed: $(STANDARDS)/package-lock.json $(STANDARDS)/package.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(STANDARDS) --no-audit --no-fund --ignore-scripts --prefer-offline --loglevel=error && touch $@; \
	else echo "npm not found: the Redocly and AsyncAPI parser checks are skipped"; fi

standards-tools: $(STANDARDS)/node_modules/.installed

run: install
	COMPLAINTS_BROKER=$(or $(BROKER),tansu) COMPLAINTS_REPLICAS=$(REPLICAS) $(VENV)/bin/complaints-dev run

# The workspace's own packages are installed editable, so --compile-bytecode leaves them out: compiled
# here once, every service process the tests start reads them instead of compiling them again (where
# PYTHONDONTWRITEBYTECODE is set it never caches what it compiles; measured: 0.4 s of CPU each, some
# hundred processes a run). A source changed later is compiled afresh: Python checks its mtime.
test: install standards-tools
	$(VENV)/bin/python -m compileall -q -j 0 libs/*/complaints_* services/*/complaints_*
	$(VENV)/bin/python -m pytest -q -p no:cacheprovider --durations=25

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy libs services

bench: install
	$(VENV)/bin/python -m benchmarks --broker $(or $(BROKER),both)

chaos: install
	$(VENV)/bin/python -m benchmarks.chaos --broker $(or $(BROKER),tansu)

profile: install
	$(VENV)/bin/python -m benchmarks.profile

journey: install
	$(VENV)/bin/complaints-dev journey $(ID)

clean:
	rm -rf $(VENV) $(TOOLS) $(STANDARDS)/node_modules .run .pytest_cache .mypy_cache .ruff_cache
