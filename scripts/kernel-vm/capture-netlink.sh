#!/usr/bin/env bash
# Captures wg(8) talking generic netlink to the real kernel, for the golden-byte fixtures of
# Tests/MeshKernelTests/CapturedFromKernelTests.swift. Runs inside the kernel VM:
#
#   scripts/kernel-vm.sh -q -- scripts/kernel-vm/capture-netlink.sh > capture.txt
#
# Prints the pcap (LINKTYPE_NETLINK, from an nlmon device) as hex between PCAP-BEGIN/PCAP-END.
# The private key is PrivateKey.fixture(7) of the test kit: a public test value, not a secret.
set -euo pipefail
dir=$(mktemp -d)
ip netns add nlcap
trap 'ip netns del nlcap 2>/dev/null; rm -rf "$dir"' EXIT
ip -n nlcap link add wg0 type wireguard
ip -n nlcap link add nlmon0 type nlmon
ip -n nlcap link set nlmon0 up
ip netns exec nlcap tcpdump -q -i nlmon0 -U -w "$dir/wg.pcap" 2>/dev/null &
capture=$!
sleep 3   # tcpdump is slow to start under emulation
(umask 077 && echo "AAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHB0c=" > "$dir/key")
ip netns exec nlcap wg set wg0 private-key "$dir/key" listen-port 51820 fwmark 0x2000 \
    peer cGVlci1hAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE= endpoint 192.0.2.1:51820 \
    persistent-keepalive 25 allowed-ips 10.244.1.0/24,fd00:244:1::/64
ip netns exec nlcap wg show wg0 >/dev/null
sleep 2
kill -INT "$capture"
wait "$capture" || true
echo "kernel $(uname -r), wireguard $(cat /sys/module/wireguard/version), $(wg --version)"
echo PCAP-BEGIN
od -An -tx1 -v "$dir/wg.pcap" | tr -d ' \n'
echo
echo PCAP-END
