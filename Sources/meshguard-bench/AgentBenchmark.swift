// `meshguard-bench agent`: the real `meshguard agent` process, in a namespace of its own with
// an underlay veth, programming N accepted peers from a SQLite datastore into wireguard-go.
// Measures the time to program them all, the agent's memory, the end-to-end latency of a
// one-peer change made in the store, and what the agent costs while idle.

import Foundation
import MeshCore
import MeshStoreSQLite

enum AgentBenchmark {
    static let underlay = "192.168.77.11"
    static let podCIDR = "10.1.0.0/24"
    /// The agent's routing table (its default).
    static let table = "51830"
    static let resyncInterval = "30s"

    static func run(peers n: Int, meshguard: String?, changes: Int, idleSeconds: Int,
                    logLevel: String) async throws -> Summary {
        let executable = try meshguard ?? siblingExecutable("meshguard")
        guard access(executable, X_OK) == 0 else {
            throw BenchError("\(executable) is not an executable; build the meshguard product or pass --meshguard PATH")
        }
        let id = getpid()
        let device = "mga\(id)"
        let (scratch, scratchCleanup) = try ScratchDirectory.create("meshguard-bench-agent-\(id)")
        defer { Cleanup.shared.perform(scratchCleanup) }
        let database = scratch.path + "/meshguard.db"
        let stateDirectory = scratch.path + "/state"
        try FileManager.default.createDirectory(atPath: stateDirectory, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        print("agent: \(n) peers, \(executable), device \(device) (own namespace, underlay \(underlay)/24)")

        var records: [PeerRecord] = []
        let seeding = try await measure { records = try await MeshStoreSeed.write(peers: n, to: database) }

        let (namespace, namespaceCleanup) = try BenchNamespace.create(name: "mgbagent-\(id)", devices: [device],
                                                                      underlay: underlay + "/24")
        defer { Cleanup.shared.perform(namespaceCleanup) }
        let arguments = namespace.exec([
            executable, "agent", "--datastore", "sqlite://\(database)", "--node", "bench", "--address", underlay,
            "--pod-cidr", podCIDR, "--state-dir", stateDirectory, "--http-port", "0", "--interface", device,
            "--resync-interval", resyncInterval, "--log-level", logLevel,
        ])
        let started = ContinuousClock.now
        let agent = try AgentProcess(arguments: arguments, logPath: scratch.path + "/agent.log")
        let agentCleanup = agent.killOnInterrupt()
        defer { Cleanup.shared.dismiss(agentCleanup) }
        do {
            let probe = AgentProbe(namespace: namespace, device: device, agent: agent)
            var summary = try await measurements(probe: probe, executable: executable, started: started, records: records,
                                                 database: database, changes: changes, idleSeconds: idleSeconds)
            summary.rows.insert(("store seeding, \(n) peer records (not timed below)", milliseconds(seeding)), at: 0)
            summary.add("agent on SIGTERM", agent.stop())
            let log = agent.logTail(lines: 60)
            if !log.isEmpty { print("  agent log (--log-level \(logLevel), last lines):\n\(log)") }
            return summary
        } catch {
            agent.stop()
            throw BenchError("\(error)\nagent log:\n\(agent.logTail())")
        }
    }

    private static func measurements(probe: AgentProbe, executable: String, started: ContinuousClock.Instant,
                                     records: [PeerRecord], database: String, changes: Int,
                                     idleSeconds: Int) async throws -> Summary {
        let n = records.count
        let agent = probe.agent
        let pid = String(agent.pid)

        // The agent's full initial programming: read the store, create the device, load it.
        let peersReady = try await probe.wait("\(n) peers on the device", timeout: .seconds(600)) {
            probe.peerCount() == n
        } - started
        let routesReady = try await probe.wait("\(n) routes in table \(table)", timeout: .seconds(600)) {
            probe.routeCount() >= n
        } - started
        guard agent.runs(executable) else {
            throw BenchError("pid \(agent.pid) is not the agent: its launcher did not exec it")
        }
        print("  programmed: \(n) peers after \(milliseconds(peersReady)), routes after \(milliseconds(routesReady))")
        try await probe.settle()
        let settledRSS = (memoryKB("VmRSS", pid: pid), memoryKB("VmHWM", pid: pid))
        let daemon = wireGuardGoPID(for: probe.device)
        let daemonRSS = daemon.map { (memoryKB("VmRSS", pid: $0), memoryKB("VmHWM", pid: $0)) }

        // One peer's allowed IP changes in the store; time until wireguard-go has it (wg show,
        // as an operator would look), then, in separate changes, until its route is in the
        // table (the agent's last step, and a much cheaper probe than a 5,000-peer dump).
        let store = try SQLiteDatastore(path: database)
        defer { store.close() }
        var deviceTimes: [Duration] = []
        var routeTimes: [Duration] = []
        for r in 0..<2 * changes {
            var record = records[(r * 7919 + 17) % n]
            let prefix = "10.200.\(r).0/24"
            record.allowedIPs = [prefix]
            let sent = ContinuousClock.now
            try await MeshStoreSeed.put(record, into: store)
            if r < changes {
                let seen = try await probe.wait("\(prefix) on peer \(record.node)", timeout: .seconds(60)) {
                    probe.allowedIPs(of: record.publicKey) == prefix
                }
                deviceTimes.append(seen - sent)
            } else {
                let seen = try await probe.wait("a route to \(prefix)", timeout: .seconds(60), every: .milliseconds(10)) {
                    probe.hasRoute(to: prefix)
                }
                routeTimes.append(seen - sent)
                guard probe.allowedIPs(of: record.publicKey) == prefix else {
                    throw BenchError("the route to \(prefix) is in place but peer \(record.node) does not have it")
                }
            }
            try await Task.sleep(for: .milliseconds(300))
        }
        print("  one-peer changes: wg show \(deviceTimes.map(milliseconds)), route \(routeTimes.map(milliseconds))")
        // What one poll of each probe costs: the resolution of (e) and (g).
        var dumpProbe: [Duration] = []
        var routeProbe: [Duration] = []
        for _ in 0..<3 {
            dumpProbe.append(await measure { _ = probe.allowedIPs(of: records[0].publicKey) })
            routeProbe.append(await measure { _ = probe.hasRoute(to: "10.200.0.0/24") })
        }

        // Idle: nothing changes; the agent still resyncs and writes its status.
        try await probe.settle()
        let idleWindow = Duration.seconds(idleSeconds)
        let cpuBefore = cpuTime(pid: pid)
        let daemonCPUBefore = daemon.flatMap { cpuTime(pid: $0) }
        try await Task.sleep(for: idleWindow)
        guard agent.isRunning, let cpuBefore, let cpuAfter = cpuTime(pid: pid) else {
            throw BenchError("the agent exited while idle")
        }
        let idleCPU = cpuAfter - cpuBefore
        let daemonCPU = daemonCPUBefore.flatMap { before in daemon.flatMap { cpuTime(pid: $0) }.map { $0 - before } }
        let idleRSS = (memoryKB("VmRSS", pid: pid), memoryKB("VmHWM", pid: pid))

        func share(_ cpu: Duration) -> String {
            String(format: "%.0f ms (%.1f%% of a core)", cpu.seconds * 1e3, cpu.seconds / idleWindow.seconds * 100)
        }
        var summary = Summary("real agent: `meshguard agent`, \(n) peers from SQLite, resync \(resyncInterval)")
        summary.add("(e) start -> \(n) peers on the device (wg show)", milliseconds(peersReady))
        summary.add("    start -> \(n) routes in table \(table)", milliseconds(routesReady))
        summary.add("(f) agent RSS after programming (VmRSS / VmHWM)",
                    "\(mebibytes(kB: settledRSS.0)) / \(mebibytes(kB: settledRSS.1))")
        summary.add("    wireguard-go RSS (VmRSS / VmHWM)",
                    daemonRSS.map { "\(mebibytes(kB: $0.0)) / \(mebibytes(kB: $0.1))" } ?? "n/a")
        summary.add("(g) one-peer change, store put -> wg show (median of \(changes))", milliseconds(median(deviceTimes)))
        summary.add("    min / max", "\(milliseconds(deviceTimes.min()!)) / \(milliseconds(deviceTimes.max()!))")
        summary.add("    one probe: wg show allowed-ips (polled every 50 ms)", milliseconds(median(dumpProbe)))
        summary.add("    one-peer change, store put -> route (median of \(changes))", milliseconds(median(routeTimes)))
        summary.add("    min / max", "\(milliseconds(routeTimes.min()!)) / \(milliseconds(routeTimes.max()!))")
        summary.add("    one probe: ip route show (polled every 10 ms)", milliseconds(median(routeProbe)))
        summary.add("(h) idle \(idleSeconds) s: agent CPU (utime+stime)", share(idleCPU))
        summary.add("    idle \(idleSeconds) s: wireguard-go CPU", daemonCPU.map(share) ?? "n/a")
        summary.add("    agent RSS after idle (VmRSS / VmHWM)", "\(mebibytes(kB: idleRSS.0)) / \(mebibytes(kB: idleRSS.1))")
        return summary
    }

    /// `/path/to/<name>` beside this executable.
    static func siblingExecutable(_ name: String) throws -> String {
        let me = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        return URL(fileURLWithPath: me).deletingLastPathComponent().appendingPathComponent(name).path
    }
}
