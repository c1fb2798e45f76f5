# Meshguard: build, test, benchmark, demo.
# Targets that create network namespaces run as root (through sudo when not root already).

SWIFT      ?= swift
SUDO       := $(if $(filter 0,$(shell id -u)),,sudo)
# Release builds for the benchmark get a scratch path of their own (git-ignored by .build-*).
RELEASE    := .build-release
BENCH_ARGS ?=
DEMO_ARGS  ?=
# Steps for `make kernel-test` (scripts/kernel-vm/kernel-tests.sh: smoke, swift, swift:FILTER,
# e2e, e2e-etcd, demo, bench) and options for scripts/kernel-vm.sh (e.g. KERNEL_VM_ARGS="--smp 4 --timeout 900").
KERNEL_TESTS   ?= smoke swift:NetlinkTests
KERNEL_VM_ARGS ?=

.PHONY: build test bench demo kernel-test kernel-bench

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

# The kernel backend's tests on a real kernel with wireguard.ko: Debian's kernel under QEMU
# (software emulation), with this host's root read-only inside; see docs/kernel-vm.md.
# Builds on the host (the repository is read-only in the VM); needs no root on the host.
kernel-test:
	$(SWIFT) build --build-tests
	scripts/kernel-vm.sh $(KERNEL_VM_ARGS) -e KERNEL_TEST_BIN="$$($(SWIFT) build --show-bin-path)" \
		-- scripts/kernel-vm/kernel-tests.sh $(KERNEL_TESTS)

# The kernel backend's benchmark in the VM: a release meshguard-bench, then `meshguard-bench
# kernel` (5,000 peers: agent's backend vs `wg setconf`, one-peer change, no-op re-sync vs
# `wg syncconf`) inside Debian's kernel under QEMU; see docs/benchmarks.md.
KERNEL_BENCH_ARGS ?=
kernel-bench:
	$(SWIFT) build -c release --scratch-path $(RELEASE) --product meshguard-bench
	scripts/kernel-vm.sh $(KERNEL_VM_ARGS) -e KERNEL_BENCH_BIN="$$($(SWIFT) build -c release --scratch-path $(RELEASE) --show-bin-path)" \
		-e KERNEL_BENCH_ARGS="$(KERNEL_BENCH_ARGS)" -- scripts/kernel-vm/kernel-tests.sh bench
