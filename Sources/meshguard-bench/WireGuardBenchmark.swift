// `meshguard-bench wireguard`: how long the agent's userspace backend takes to load a large mesh
// into wireguard-go, next to wg(8) loading the same configuration from a file, and how long a
// one-peer change takes. Works in a namespace of its own and removes everything it created.

import Foundation
import MeshCore
import MeshCrypto
import MeshUserspace

enum WireGuardBenchmark {
    static func run(peers n: Int, runs: Int) async throws -> Summary {
        let namespace = "mgbench-\(getpid())"
        let device = "mgb\(getpid())"
        let (scratch, scratchCleanup) = try ScratchDirectory.create("meshguard-bench-\(getpid())")
        defer { Cleanup.shared.perform(scratchCleanup) }
        let (space, namespaceCleanup) = try BenchNamespace.create(name: namespace, devices: [device])
        defer { Cleanup.shared.perform(namespaceCleanup) }
        let devices = UserspaceDevices(configuration: .init(startupTimeout: .seconds(30), ioTimeout: .seconds(120),
                                                            launcherPrefix: space.exec([])))
        do {
            let summary = try await measurements(peers: n, runs: runs, devices: devices, device: device,
                                                 scratch: scratch.path)
            try await devices.deleteDevice(named: device)
            return summary
        } catch {
            try? await devices.deleteDevice(named: device)
            throw error
        }
    }

    private static func measurements(peers n: Int, runs: Int, devices: UserspaceDevices, device: String,
                                     scratch: String) async throws -> Summary {
        let wg = try runCommand(["sh", "-c", "command -v wg"]).trimmingCharacters(in: .whitespacesAndNewlines)
        print("wireguard: \(n) peers, \(runs) runs each, device \(device) (wireguard-go, own namespace)")

        let started = ContinuousClock.now
        var desired = makeConfig(peers: n)
        let generation = ContinuousClock.now - started
        let configPath = scratch + "/\(device).conf"
        try writeWgConfig(desired, to: configPath)

        /// A fresh wireguard-go: delete the device and start it again.
        func reset() async throws {
            try await devices.deleteDevice(named: device)
            try await devices.ensureDevice(named: device)
        }
        func check(_ what: String, peers expected: DeviceConfig) async throws {
            guard let state = try await devices.device(named: device), state.peers.count == expected.peers.count,
                  state.privateKey == expected.privateKey else {
                throw BenchError("\(what) did not load all \(expected.peers.count) peers")
            }
        }

        // (a) The agent's path: plan from the empty device, one UAPI set=1 stream.
        var planTimes: [Duration] = []
        var agentTimes: [Duration] = []
        var wireGuardGoPeak = 0
        for _ in 0..<runs {
            try await reset()
            guard let empty = try await devices.device(named: device) else { throw BenchError("the device vanished") }
            var patch = DevicePatch()
            planTimes.append(await measure { patch = plan(desired: desired, observed: empty, options: .init(removeUnknownPeers: true)) })
            agentTimes.append(try await measure { try await devices.apply(patch, to: device) })
            try await check("UserspaceDevices.apply", peers: desired)
            if let pid = wireGuardGoPID(for: device) { wireGuardGoPeak = max(wireGuardGoPeak, memoryKB("VmHWM", pid: pid) ?? 0) }
        }

        // (b) wg(8) loading the identical configuration from a file (key in the file, not argv).
        var wgTimes: [Duration] = []
        for _ in 0..<runs {
            try await reset()
            wgTimes.append(try await measure { try runCommand([wg, "setconf", device, configPath]) })
            try await check("wg setconf", peers: desired)
        }

        // (c) One peer's allowed IP changes: the agent reads the device, plans, and applies a
        // patch for that peer alone (placeholder move + update-only add).
        var readTimes: [Duration] = []
        var onePeerTimes: [Duration] = []
        for r in 0..<runs {
            let index = (r * 7919) % n
            let old = desired.peers[index]
            desired.peers[index] = PeerConfig(publicKey: old.publicKey, endpoint: old.endpoint,
                                              allowedIPs: [try IPPrefix("10.127.\(r % 256).0/24")])
            var observed: DeviceState?
            readTimes.append(try await measure { observed = try await devices.device(named: device) })
            guard let observed else { throw BenchError("the device vanished") }
            let patch = plan(desired: desired, observed: observed, options: .init(removeUnknownPeers: true))
            guard patch.peers.filter({ $0.publicKey != placeholderPeerKey }).count == 1 else {
                throw BenchError("expected a one-peer patch, got \(patch.peers.count) peer entries")
            }
            onePeerTimes.append(try await measure { try await devices.apply(patch, to: device) })
            guard let after = try await devices.device(named: device),
                  after.peers.first(where: { $0.publicKey == old.publicKey })?.allowedIPs == desired.peers[index].allowedIPs else {
                throw BenchError("the one-peer change did not take effect")
            }
        }

        let agent = median(agentTimes)
        let setconf = median(wgTimes)
        print("  all runs: (a) \(agentTimes.map(milliseconds)), (b) \(wgTimes.map(milliseconds)), (c) \(onePeerTimes.map(milliseconds))")
        var summary = Summary("wireguard-go: agent's backend vs wg setconf, \(n) peers (median of \(runs) runs)")
        summary.add("config generation (not timed below)", milliseconds(generation))
        summary.add("(a) full load, UserspaceDevices.apply", milliseconds(agent))
        summary.add("    plan from empty state", milliseconds(median(planTimes)))
        summary.add("(b) full load, wg setconf <file>", milliseconds(setconf))
        summary.add("    ratio (a) / (b)", String(format: "%.2f", agent.seconds / setconf.seconds))
        summary.add("(c) one-peer change, apply", milliseconds(median(onePeerTimes)))
        summary.add("    read back all peers (get=1)", milliseconds(median(readTimes)))
        summary.add("(d) peak RSS of this process (VmHWM)", mebibytes(kB: memoryKB("VmHWM")))
        summary.add("    peak RSS of wireguard-go (VmHWM)", mebibytes(kB: wireGuardGoPeak))
        return summary
    }
}
