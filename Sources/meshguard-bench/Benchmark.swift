// meshguard-bench: how long the userspace backend takes to load a large mesh into wireguard-go,
// next to wg(8) loading the same configuration from a file. Run as root; it works in a
// namespace of its own and removes everything it created.
//
//   meshguard-bench [--peers N] [--runs N]

import Foundation
import MeshCore
import MeshCrypto
import MeshUserspace

@main
struct Bench {
    static func main() async {
        do {
            try await benchmark(Options(Array(CommandLine.arguments.dropFirst())))
        } catch {
            FileHandle.standardError.write(Data("meshguard-bench: \(error)\n".utf8))
            exit(1)
        }
    }

    static func benchmark(_ options: Options) async throws {
        guard geteuid() == 0 else { throw BenchError("run as root: it creates a network namespace and TUN devices") }
        let namespace = "mgbench-\(getpid())"
        let device = "mgb\(getpid())"
        let scratch = NSTemporaryDirectory() + "meshguard-bench-\(getpid())"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        try run(["ip", "netns", "add", namespace])
        let devices = UserspaceDevices(configuration: .init(startupTimeout: .seconds(30), ioTimeout: .seconds(120),
                                                            launcherPrefix: ["ip", "netns", "exec", namespace]))
        do {
            try await measureAll(options, devices: devices, device: device, scratch: scratch)
        } catch {
            try? await devices.deleteDevice(named: device)
            _ = try? run(["ip", "netns", "del", namespace])
            try? FileManager.default.removeItem(atPath: scratch)
            throw error
        }
        try await devices.deleteDevice(named: device)
        try run(["ip", "netns", "del", namespace])
        try FileManager.default.removeItem(atPath: scratch)
    }

    static func measureAll(_ options: Options, devices: UserspaceDevices, device: String, scratch: String) async throws {
        let wg = try run(["sh", "-c", "command -v wg"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let (n, runs) = (options.peers, options.runs)
        print("meshguard-bench: \(n) peers, \(runs) runs each, device \(device) (wireguard-go, own namespace)")

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
            wgTimes.append(try await measure { try run([wg, "setconf", device, configPath]) })
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
        let ratio = Double(agent.components.attoseconds / 1_000_000_000 + agent.components.seconds * 1_000_000_000)
            / Double(setconf.components.attoseconds / 1_000_000_000 + setconf.components.seconds * 1_000_000_000)
        let rows: [(String, String)] = [
            ("peers", "\(n)"),
            ("config generation (not timed below)", milliseconds(generation)),
            ("(a) full load, UserspaceDevices.apply", milliseconds(agent)),
            ("    plan from empty state", milliseconds(median(planTimes))),
            ("(b) full load, wg setconf <file>", milliseconds(setconf)),
            ("    ratio (a) / (b)", String(format: "%.2f", ratio)),
            ("(c) one-peer change, apply", milliseconds(median(onePeerTimes))),
            ("    read back all peers (get=1)", milliseconds(median(readTimes))),
            ("(d) peak RSS of this process (VmHWM)", "\((memoryKB("VmHWM") ?? 0) / 1024) MiB"),
            ("    peak RSS of wireguard-go (VmHWM)", "\(wireGuardGoPeak / 1024) MiB"),
        ]
        let width = rows.map(\.0.count).max()!
        print("")
        print("median of \(runs) runs; all runs: (a) \(agentTimes.map(milliseconds)), (b) \(wgTimes.map(milliseconds)), (c) \(onePeerTimes.map(milliseconds))")
        print(String(repeating: "-", count: width + 16))
        for (label, value) in rows {
            print(label.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + value)
        }
        print(String(repeating: "-", count: width + 16))
    }
}
