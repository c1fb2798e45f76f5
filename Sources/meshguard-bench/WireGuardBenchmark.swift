// `meshguard-bench wireguard` and `meshguard-bench kernel`: how long the agent's backend
// (wireguard-go over UAPI, or kernel WireGuard over generic netlink) takes to load a large mesh,
// next to wg(8) loading the same configuration from a file, in the same run; how long a one-peer
// change takes; and what a no-op re-sync costs next to `wg syncconf` of the unchanged file.
// Works in a namespace of its own and removes everything it created.

import Foundation
import MeshCore
import MeshCrypto
import MeshKernel
import MeshUserspace

enum WireGuardBenchmark {
    static func run(peers n: Int, runs: Int, backend: WireGuardBackendKind) async throws -> Summary {
        let namespace = "mgbench-\(getpid())"
        let device = "mgb\(getpid())"
        let (scratch, scratchCleanup) = try ScratchDirectory.create("meshguard-bench-\(getpid())")
        defer { Cleanup.shared.perform(scratchCleanup) }
        let (space, namespaceCleanup) = try BenchNamespace.create(name: namespace, devices: backend == .userspace ? [device] : [])
        defer { Cleanup.shared.perform(namespaceCleanup) }
        let devices: any WireGuardDevices
        let wgPrefix: [String]
        switch backend {
        case .userspace:
            devices = UserspaceDevices(configuration: .init(startupTimeout: .seconds(30), ioTimeout: .seconds(120),
                                                            launcherPrefix: space.exec([])))
            // wg(8) finds wireguard-go's socket in /var/run/wireguard from any namespace.
            wgPrefix = []
        case .kernel:
            devices = KernelDevices(networkNamespacePath: "/var/run/netns/\(namespace)")
            // A kernel device is visible only inside its namespace: wg(8) has to run there.
            wgPrefix = space.exec([])
        }
        do {
            let summary = try await measurements(peers: n, runs: runs, devices: devices, device: device,
                                                 scratch: scratch.path, wgPrefix: wgPrefix)
            try await devices.deleteDevice(named: device)
            return summary
        } catch {
            try? await devices.deleteDevice(named: device)
            throw error
        }
    }

    private static func measurements(peers n: Int, runs: Int, devices: any WireGuardDevices, device: String,
                                     scratch: String, wgPrefix: [String]) async throws -> Summary {
        let wg = try runCommand(["sh", "-c", "command -v wg"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let backend = devices.kind
        let backendName = backend == .kernel ? "KernelDevices" : "UserspaceDevices"
        let what = backend == .kernel ? "kernel WireGuard \(kernelModuleVersion() ?? "")" : "wireguard-go"
        print("\(backend.rawValue): \(n) peers, \(runs) runs each, device \(device) (\(what), own namespace)")

        let started = ContinuousClock.now
        var desired = makeConfig(peers: n)
        let generation = ContinuousClock.now - started
        let configPath = scratch + "/\(device).conf"
        try writeWgConfig(desired, to: configPath)

        /// A fresh device: delete it and create it again.
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
        // wg(8) in the kernel's case starts through `ip netns exec`; its own start-up is
        // measured alone so that the ratio can be read without it.
        var execTimes: [Duration] = []
        if !wgPrefix.isEmpty {
            for _ in 0..<max(runs, 3) { execTimes.append(try await measure { try runCommand(wgPrefix + ["true"]) }) }
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
            try await check("\(backendName).apply", peers: desired)
            if let pid = wireGuardGoPID(for: device) { wireGuardGoPeak = max(wireGuardGoPeak, memoryKB("VmHWM", pid: pid) ?? 0) }
        }

        // (b) wg(8) loading the identical configuration from a file (key in the file, not argv).
        var wgTimes: [Duration] = []
        for _ in 0..<runs {
            try await reset()
            wgTimes.append(try await measure { try runCommand(wgPrefix + [wg, "setconf", device, configPath]) })
            try await check("wg setconf", peers: desired)
        }

        // (e) A re-sync that finds nothing to do, on the full device: the agent reads it back
        // and plans an empty patch; `wg syncconf` reads it back, diffs against the file and
        // sends what differs (nothing).
        var resyncTimes: [Duration] = []
        var syncconfTimes: [Duration] = []
        for _ in 0..<runs {
            resyncTimes.append(try await measure {
                guard let observed = try await devices.device(named: device) else { throw BenchError("the device vanished") }
                let patch = plan(desired: desired, observed: observed, options: .init(removeUnknownPeers: true))
                guard patch.isEmpty else { throw BenchError("a re-sync of the unchanged mesh planned changes: \(patch.peers.count) peers") }
            })
            syncconfTimes.append(try await measure { try runCommand(wgPrefix + [wg, "syncconf", device, configPath]) })
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
        let onePeer = median(onePeerTimes)
        print("  all runs: (a) \(agentTimes.map(milliseconds)), (b) \(wgTimes.map(milliseconds)), (c) \(onePeerTimes.map(milliseconds))")
        print("            (e) \(resyncTimes.map(milliseconds)), wg syncconf \(syncconfTimes.map(milliseconds))"
              + (execTimes.isEmpty ? "" : ", ip netns exec alone \(execTimes.map(milliseconds))"))
        let title = backend == .kernel ? "kernel WireGuard" : "wireguard-go"
        var summary = Summary("\(title): agent's backend vs wg setconf, \(n) peers (median of \(runs) runs)")
        summary.add("config generation (not timed below)", milliseconds(generation))
        summary.add("(a) full load, \(backendName).apply", milliseconds(agent))
        summary.add("    plan from empty state", milliseconds(median(planTimes)))
        summary.add("(b) full load, wg setconf <file>", milliseconds(setconf))
        summary.add("    ratio (a) / (b)", String(format: "%.2f", agent.seconds / setconf.seconds))
        if !execTimes.isEmpty {
            let exec = median(execTimes)
            summary.add("    of (b): `ip netns exec` start-up alone", milliseconds(exec))
            summary.add("    ratio (a) / ((b) - start-up)", String(format: "%.2f", agent.seconds / (setconf - exec).seconds))
        }
        summary.add("(c) one-peer change, apply", milliseconds(onePeer))
        summary.add("    ratio (c) / (a)", String(format: "1/%.0f", agent.seconds / onePeer.seconds))
        summary.add("    read back all peers", milliseconds(median(readTimes)))
        summary.add("(d) peak RSS of this process (VmHWM)", mebibytes(kB: memoryKB("VmHWM")))
        if backend == .userspace { summary.add("    peak RSS of wireguard-go (VmHWM)", mebibytes(kB: wireGuardGoPeak)) }
        summary.add("(e) no-op re-sync: read back + empty plan", milliseconds(median(resyncTimes)))
        summary.add("    wg syncconf <unchanged file>", milliseconds(median(syncconfTimes)))
        return summary
    }
}

/// The loaded wireguard module's version, e.g. "1.0.0", if the kernel reports one.
private func kernelModuleVersion() -> String? {
    (try? String(contentsOfFile: "/sys/module/wireguard/version", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
}
