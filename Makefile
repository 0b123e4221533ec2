# switchboard: `make test` installs what the tests need, then runs every check CI runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all build release run test deps lint fmt fmt-check clippy nextest doc bench bench-quick clean-test-deps helm-check docker-check

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
test: deps fmt-check clippy nextest helm-check

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

## Helm chart and deploy/ files: lint, render, validate against the Kubernetes schemas, check-config
## on the rendered TOML, compose spec, hadolint (scripts/helm-check.sh).
helm-check:
	./scripts/helm-check.sh

## The Dockerfile without a Docker engine: the builder's exact release build and the runtime stage
## emulated (tini as PID 1, image user, HEALTHCHECK, SIGTERM drain). Slow: a release build.
docker-check:
	./scripts/check-dockerfile.sh
