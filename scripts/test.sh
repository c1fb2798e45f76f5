#!/usr/bin/env bash
# The test command (README, CI): installs dependencies, builds, and runs every test.
# As root, nothing is skipped: the end-to-end tests build clusters in network namespaces and
# run wireguard-go; without root they say why they are skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh

# Leftovers of an interrupted earlier run would make namespace names collide.
if [[ $(id -u) -eq 0 ]]; then
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^(mge|mgt-|mgd|mgbench-)' || true); do
    ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$ns" 2>/dev/null || true
  done
fi

swift build --build-tests
swift test --skip-build "$@"
