# switchboard: `make test` installs what the tests need, then runs every check CI runs.
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: all build release run test deps lint fmt fmt-check clippy nextest doc bench bench-quick clean-test-deps helm-check docker-check fuzz soak

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

## Benchmarks (not part of `make test`): every server pinned to CPU 0, the generator to CPU 1.
## Results: the table on stdout, target/bench/{results.json,*.svg,performance.md}.
.PHONY: bench-deps
bench-deps:
	./tests/bench/install.sh

bench: bench-deps
	$(CARGO) build --release -p switchboard -p switchboard-bench
	taskset -c 1 target/release/switchboard-bench run $(BENCH_ARGS)

bench-quick: bench-deps
	$(CARGO) build --release -p switchboard -p switchboard-bench
	taskset -c 1 target/release/switchboard-bench run --quick $(BENCH_ARGS)

## Generated-input (hostile input) tests with many more cases than `make test` runs: every codec
## (MQTT, Engine.IO, Socket.IO, IPC), the auth files, the fabric and the HTTP front over raw TCP.
## Not part of `make test`. FUZZ_CASES=100000 make fuzz for a longer run.
FUZZ_CASES ?= 20000
fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release \
	  -p switchboard-mqtt-proto -p switchboard-engineio-proto -p switchboard-socketio-proto \
	  -p switchboard-ipc-proto -p switchboard-auth -p switchboard-fabric
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p switchboard-tests --test hostile \
	  generated_http_requests

## Soak test (not part of `make test`): 10 minutes of mixed load over every protocol with clients
## connecting and disconnecting; memory over time, errors and message loss; exit 1 on failure.
## SOAK_SECONDS=60 make soak for a short run.
SOAK_SECONDS ?= 600
soak:
	$(CARGO) build --release -p switchboard -p switchboard-bench
	target/release/switchboard-soak --seconds $(SOAK_SECONDS) --gateway target/release/switchboard
