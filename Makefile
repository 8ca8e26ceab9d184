# Alter Identity — the two commands a newcomer needs are `make run` (nothing to install) and
# `make test`, which first makes sure PostgreSQL and NATS JetStream are installed (apt, on
# Debian/Ubuntu), running and answering: see scripts/services.sh.

SHELL := /bin/bash
CARGO ?= cargo
export CARGO_TERM_COLOR ?= never
export CARGO_INCREMENTAL ?= 0
# The test servers' URLs (scripts/services.sh env prints them).
export ALTER_TEST_DATABASE_URL ?= postgres://alter:alter@127.0.0.1:5432/alter
export ALTER_TEST_NATS_URL ?= nats://127.0.0.1:4222

.PHONY: help services test fmt-check lint unit conformance-check conformance helm-check run demo serve bench build clean-test-dbs

help:
	@echo "make run      every service in one process, embedded store and bus, IDP simulator (alter dev --with-sim)"
	@echo "make demo     the same, walking through the product step by step (alter demo)"
	@echo "make serve    start PostgreSQL + NATS, then every service against them (alter serve)"
	@echo "make test     fmt check, helm-check, clippy -D warnings, every test against real PostgreSQL + NATS"
	@echo "make helm-check  lint, render and validate the Helm chart helm/alter (no cluster needed)"
	@echo "make bench    the benchmarks (release build)"
	@echo "make services only install/start PostgreSQL and NATS"

services:
	@scripts/services.sh up

fmt-check:
	$(CARGO) fmt --all -- --check

lint:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit: services
	$(CARGO) test --workspace --locked

conformance-check:
	python3 scripts/conformance.py --check

# Regenerate docs/conformance.md after adding or renaming rule tests.
conformance:
	python3 scripts/conformance.py

# The Helm chart: Helm's lint and install (against a stand-in API server), the manifests
# validated against the Kubernetes schemas, values typos refused (scripts/helm-check.py).
# Its tools live in .venv-helm, made once and remade when scripts/helm-requirements.txt
# changes.
HELM_VENV := .venv-helm

$(HELM_VENV)/.installed: scripts/helm-requirements.txt
	python3 -m venv $(HELM_VENV)
	$(HELM_VENV)/bin/pip install --quiet --disable-pip-version-check --ignore-requires-python \
	  -r scripts/helm-requirements.txt
	@touch $@

helm-check: $(HELM_VENV)/.installed
	$(HELM_VENV)/bin/python scripts/helm-check.py

test: services fmt-check conformance-check helm-check lint unit
	@scripts/cleanup-test-resources.sh

build:
	$(CARGO) build --locked -p alter

# `alter dev --with-sim`: every service in one process over the embedded store and bus,
# state in ./.alter, with the IDP simulator. Nothing to install but the Rust toolchain.
run: build
	./target/debug/alter dev --with-sim

# `alter demo`: the same, walking through the product step by step.
demo: build
	./target/debug/alter demo

# `alter serve` against the local PostgreSQL and NATS (installed and started if needed).
serve: services build
	@scripts/run.sh

bench: services
	@scripts/bench.sh

clean-test-dbs: services
	@scripts/cleanup-test-resources.sh
