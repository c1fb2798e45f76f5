#!/usr/bin/env bash
# Installs what Meshguard's build, tests and demo need on Debian 12, and nothing that is
# already there. Run as root.
set -euo pipefail

packages=(
  pkg-config libmnl-dev libsodium-dev libsqlite3-dev   # C libraries (pkg-config system targets)
  wireguard-go wireguard-tools                          # data plane (userspace) and wg(8) for checks
  iproute2 iputils-ping tcpdump util-linux procps       # namespaces, probes, fabric capture
  qemu-system-x86 busybox-static cpio kmod xz-utils     # scripts/kernel-vm.sh: a Debian kernel under QEMU
  etcd-server etcd-client openssl                       # the etcd datastore's tests (openssl: their TLS certificates)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "install-deps: missing packages: ${missing[*]}; run as root (sudo) to install them" >&2
    exit 1
  fi
  echo "install-deps: installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v swift >/dev/null; then
  for candidate in /opt/swift/usr/bin /usr/share/swift/usr/bin; do
    [[ -x $candidate/swift ]] && export PATH="$candidate:$PATH"
  done
fi
command -v swift >/dev/null || { echo "install-deps: no Swift toolchain on PATH (Swift 6.1 or newer is needed: https://swift.org/install)" >&2; exit 1; }
