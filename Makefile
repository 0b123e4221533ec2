# switchboard: `make test` installs what the tests need, then runs every check CI runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all build release run test deps lint fmt fmt-check clippy nextest doc bench bench-quick clean-test-deps

all: build

build:
	$(CARGO) build --workspace

release:
	$(CARGO) build --release

run:
	$(CARGO) run --release

## Install test dependencies (apt packages, npm modules, Python venv) when missing.
deps:
	./scripts/install-deps.sh

## The whole suite: formatting, lints, every unit, scenario and interop test.
test: deps fmt-check clippy nextest

fmt:
	$(CARGO) fmt --all

fmt-check:
	$(CARGO) fmt --all -- --check

clippy:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

nextest:
	$(CARGO) nextest run --workspace --no-fail-fast
	$(CARGO) test --workspace --doc

lint: fmt-check clippy

doc:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --workspace --no-deps
