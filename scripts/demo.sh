#!/usr/bin/env bash
# The main job (README): installs dependencies, builds meshguard, and runs `meshguard demo`:
# a 3-node cluster in network namespaces, encryption turned on and proven on the wire.
# Extra arguments go to `meshguard demo` (e.g. --nodes 5 --strict --keep).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/install-deps.sh
[[ $(id -u) -eq 0 ]] || { echo "demo: run as root (sudo): it creates network namespaces" >&2; exit 1; }
swift build --product meshguard
exec "$(swift build --show-bin-path)/meshguard" demo "$@"
