# Meshguard: build, test, benchmark, demo.
# Targets that create network namespaces run as root (through sudo when not root already).

SWIFT      ?= swift
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo)
# Release builds for the benchmark get a scratch path of their own (git-ignored by .build-*).
RELEASE    := .build-release
BENCH_ARGS ?=
DEMO_ARGS  ?=

.PHONY: build test bench demo

build:
	$(SWIFT) build

# The test entry point is scripts/test.sh (build, then every test); CI runs exactly that.
test:
	scripts/test.sh

# `make bench BENCH_ARGS="agent --peers 1000"` runs one benchmark; see docs/benchmarks.md.
bench:
	$(SWIFT) build -c release --scratch-path $(RELEASE) --product meshguard
	$(SWIFT) build -c release --scratch-path $(RELEASE) --product meshguard-bench
	$(SUDO) "$$($(SWIFT) build -c release --scratch-path $(RELEASE) --show-bin-path)/meshguard-bench" $(or $(BENCH_ARGS),all)

demo:
	$(SUDO) scripts/demo.sh $(DEMO_ARGS)
