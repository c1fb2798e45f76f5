#!/usr/bin/env bash
# The kernel tests: run inside the kernel-vm guest by `make kernel-test`, one step per argument,
# each timed; exits non-zero if any step failed. docs/kernel-vm.md lists the steps.
#
#   smoke          kernel WireGuard end to end: two network namespaces joined by a veth pair,
#                  a wireguard device in each (keys from `wg genkey`, passed as files), a ping
#                  through the tunnel, and `wg show` proving the handshake and the traffic
#   swift:FILTER   the prebuilt test bundle with Swift Testing's --filter FILTER
#   swift          the whole prebuilt test bundle
#   e2e            the end-to-end story (EndToEnd/theWholeStoryOnOneCluster) with the agents on
#                  --wireguard-backend kernel: proof on the fabric capture, agent kill -9 under a
#                  50 ms ping, bad claims, node removal, disable
#   e2e-etcd       the same story on etcd (EndToEnd/theWholeStoryOnEtcd): one etcd member in the
#                  fabric namespace, reached over the underlay and kept out of table T
#   demo           `meshguard demo` (a 3-node cluster in network namespaces)
#   bench          `meshguard-bench kernel` (KERNEL_BENCH_ARGS, default: 5,000 peers, 3 runs)
#
# The repository is read-only in the guest: nothing here builds anything. KERNEL_TEST_BIN is the
# host's `swift build --show-bin-path` (default .build/debug); KERNEL_BENCH_BIN the directory
# of a release meshguard-bench (default KERNEL_TEST_BIN). MESHGUARD_LAB_TIME_SCALE (default 15
# here) stretches the lab's timeouts and leases: processes and packets are that much slower
# under emulation.
set -euo pipefail
cd "$(dirname "$0")/../.."

bin=${KERNEL_TEST_BIN:-.build/debug}
bundle=$bin/meshguardPackageTests.xctest
export MESHGUARD_LAB_TIME_SCALE=${MESHGUARD_LAB_TIME_SCALE:-15}

smoke() {
    [[ -d /sys/module/wireguard ]] || { echo "smoke: no wireguard module in this kernel" >&2; return 1; }
    # Not local: the EXIT trap below runs after this function has returned.
    dir=$(mktemp -d)
    # Private keys only ever travel in files (never argv, where ps would show them).
    (umask 077 && wg genkey > "$dir/a.key" && wg genkey > "$dir/b.key")
    wg pubkey < "$dir/a.key" > "$dir/a.pub"
    wg pubkey < "$dir/b.key" > "$dir/b.pub"

    ip netns add wgs-a
    ip netns add wgs-b
    # Whatever happens below, leave nothing behind (each step runs in a subshell of its own).
    trap 'ip netns del wgs-a 2>/dev/null; ip netns del wgs-b 2>/dev/null; rm -rf "$dir"' EXIT
    ip link add veth-a netns wgs-a type veth peer name veth-b netns wgs-b
    ip -n wgs-a addr add 192.0.2.1/24 dev veth-a
    ip -n wgs-b addr add 192.0.2.2/24 dev veth-b
    ip -n wgs-a link set veth-a up
    ip -n wgs-b link set veth-b up
    local side peer address port peer_port remote
    for side in a b; do
        if [[ $side == a ]]; then peer=b address=10.99.0.1 port=51820 peer_port=51821 remote=192.0.2.2
        else peer=a address=10.99.0.2 port=51821 peer_port=51820 remote=192.0.2.1; fi
        ip -n "wgs-$side" link add wg-smoke type wireguard
        ip netns exec "wgs-$side" wg set wg-smoke private-key "$dir/$side.key" listen-port "$port" \
            peer "$(cat "$dir/$peer.pub")" allowed-ips "${address%.*}.0/24" endpoint "$remote:$peer_port"
        ip -n "wgs-$side" addr add "$address/24" dev wg-smoke
        ip -n "wgs-$side" link set wg-smoke up
    done
    ip -n wgs-a -d link show wg-smoke | grep -qw wireguard   # a kernel device, not a tun
    ip netns exec wgs-a ping -c 3 -i 0.2 -W 5 10.99.0.2
    ip netns exec wgs-a wg show wg-smoke
    [[ $(ip netns exec wgs-a wg show wg-smoke public-key) == "$(cat "$dir/a.pub")" ]]
    local handshake
    handshake=$(ip netns exec wgs-a wg show wg-smoke latest-handshakes | awk '{ print $2 }')
    [[ $handshake =~ ^[0-9]+$ && $handshake -gt 0 ]] || { echo "smoke: no handshake" >&2; return 1; }
    echo "smoke: kernel WireGuard $(cat /sys/module/wireguard/version 2>/dev/null || echo '(version?)') carried pings between namespaces"
}

swift_tests() {
    [[ -x $bundle ]] || { echo "no test bundle at $bundle: run swift build --build-tests on the host" >&2; return 1; }
    # `swift test --skip-build` would write .build/build.db (read-only here) and re-plan the
    # build first; the bundle itself is what `swift test` runs, with the same arguments.
    if [[ -n ${1:-} ]]; then
        "$bundle" --testing-library swift-testing --filter "$1"
    else
        "$bundle" --testing-library swift-testing
    fi
}

e2e() {
    MESHGUARD_TEST_BACKEND=kernel swift_tests 'EndToEnd/theWholeStoryOnOneCluster'
}

e2e_etcd() {
    MESHGUARD_TEST_BACKEND=kernel swift_tests 'EndToEnd/theWholeStoryOnEtcd'
}

demo() {
    "$bin/meshguard" demo
}

bench() {
    # Word splitting of KERNEL_BENCH_ARGS is intended: it holds options.
    # shellcheck disable=SC2086
    "${KERNEL_BENCH_BIN:-$bin}/meshguard-bench" kernel ${KERNEL_BENCH_ARGS:-}
}

(($#)) || set -- smoke
for step in "$@"; do
    case $step in
        smoke|swift|swift:?*|e2e|e2e-etcd|demo|bench) ;;
        *) echo "kernel-test: unknown step '$step' (smoke, swift, swift:FILTER, e2e, e2e-etcd, demo, bench)" >&2; exit 2 ;;
    esac
done

results=()
failed=0
for step in "$@"; do
    echo
    echo "=== kernel-test: $step"
    started=$(date +%s.%N)
    # A subshell outside any `if`, so that set -e holds inside the step (an `if` would turn it
    # off for everything the condition calls).
    status=0
    (
        case $step in
            smoke) smoke ;;
            swift) swift_tests ;;
            swift:*) swift_tests "${step#swift:}" ;;
            e2e) e2e ;;
            e2e-etcd) e2e_etcd ;;
            demo) demo ;;
            bench) bench ;;
        esac
    ) || status=$?
    if ((status == 0)); then result=passed; else result="FAILED ($status)"; failed=1; fi
    seconds=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
    results+=("$(printf '%-28s %-12s %6ss' "$step" "$result" "$seconds")")
done
echo
echo "=== kernel-test summary ($(uname -r))"
printf '  %s\n' "${results[@]}"
exit "$failed"
