// `meshguard-bench convergence`: how fast a new node's key reaches every agent of a large
// cluster through the datastore. The real `meshguard controller` process validates the claims;
// N agents run the real agent loop (MeshAgent: claim under a lease, list + watch, desired
// state, plan) inside this process with the data plane left out — each programs an in-memory
// WireGuard device and routing table (the test kit's) instead of the kernel. One new node
// at a time publishes a claim with a new key; the figure is the time from that write until
// every other agent has applied the key to its device.

import Foundation
import Logging
import MeshAgent
import MeshCodec
import MeshCore
import MeshCrypto
import MeshLab
import MeshStoreEtcd
import MeshStoreSQLite
import MeshTestKit
import Synchronization

enum ConvergenceBenchmark {
    enum Store: String { case etcd, sqlite }

    static func run(agents n: Int, store kind: Store, changes: Int, meshguard: String?) async throws -> Summary {
        let binary = try meshguard ?? siblingExecutable("meshguard")
        let (scratch, scratchCleanup) = try ScratchDirectory.create("meshguard-convergence-\(getpid())")
        defer { Cleanup.shared.perform(scratchCleanup) }
        print("convergence: \(n) agents (agent loop in this process, data plane left out: in-memory devices and routes), "
              + "\(kind.rawValue) datastore, real meshguard controller, \(changes) new keys")

        // The datastore.
        var etcd: EtcdCluster?
        var etcdCleanup: Cleanup.Token?
        let url: String
        switch kind {
        case .etcd:
            let cluster = try EtcdCluster.start(parentDirectory: scratch.path)
            etcd = cluster
            url = cluster.datastoreURL
            etcdCleanup = Cleanup.shared.register { cluster.stop() }
        case .sqlite:
            url = "sqlite://\(scratch.path)/meshguard.db"
        }
        defer { etcdCleanup.map(Cleanup.shared.perform) }
        func open() throws -> any Datastore {
            switch kind {
            case .etcd: try EtcdDatastore(configuration: EtcdConfiguration(endpoints: etcd!.endpoints))
            case .sqlite: try SQLiteDatastore(path: String(url.dropFirst("sqlite://".count)))
            }
        }

        // The controller, a process of its own (its CPU is one of the figures).
        let controller = try AgentProcess(arguments: [binary, "controller", "--datastore", url, "--identity", "bench",
                                                      "--pod-cidr-pool", "10.0.0.0/8", "--lease-ttl", "10", "--log-level", ProcessInfo.processInfo.environment["MESHGUARD_BENCH_CONTROLLER_LOG"] == nil ? "warning" : "info"],
                                          logPath: "\(scratch.path)/controller.log")
        let controllerCleanup = controller.killOnInterrupt()
        defer {
            Cleanup.shared.dismiss(controllerCleanup)
            _ = controller.stop()
            if let keep = ProcessInfo.processInfo.environment["MESHGUARD_BENCH_CONTROLLER_LOG"] {
                try? FileManager.default.removeItem(atPath: keep)
                try? FileManager.default.copyItem(atPath: "\(scratch.path)/controller.log", toPath: keep)
            }
        }
        let admin = try open()
        try await waitFor("the controller", timeout: .seconds(30)) { try await admin.get(StoreKeys.leader) != nil }
        try await admin.put(StoreKeys.config, value: RecordCodec.encode(ClusterConfig(enabled: true, strict: false)), lease: nil)

        // N agents, each with its own datastore connection, as separate processes would have.
        let tracker = KeyTracker()
        var logger = Logger(label: "bench.agent")
        // MESHGUARD_BENCH_AGENT_LOG=warning shows what the agents retry (a thousand of them).
        logger.logLevel = ProcessInfo.processInfo.environment["MESHGUARD_BENCH_AGENT_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .critical
        var tasks: [Task<Void, Never>] = []
        var stores: [any Datastore] = []
        var agents: [Agent] = []
        var healths: [AgentHealth] = []
        var deviceIDs: [ObjectIdentifier] = []
        var observed: [ObservedDevices] = []
        for i in 0..<n {
            let name = try NodeName("node-\(i)")
            let address = try IPAddress("172.16.\(i >> 8).\(i & 255)")
            let cidr = try IPPrefix("10.\(i >> 8).\(i & 255).0/24")
            let settings = NodeSettings(node: name, address: address, podCIDRs: [cidr], tunnelAddress: try IPAddress("10.\(i >> 8).\(i & 255).1"))
            let routing = FakeRouting()
            await routing.addLink("eth0", addresses: [InterfaceAddress(address: address, prefixLength: 16)])
            let devices = ObservedDevices(FakeWireGuardDevices(links: routing, keepsHistory: false), tracker: tracker)
            let privateKey = KeyGeneration.generatePrivateKey()
            let keys = NodeKeys(privateKey: privateKey, publicKey: KeyGeneration.publicKey(for: privateKey))
            let store = try open()
            stores.append(store)
            let health = AgentHealth()
            // Lease TTL 60 s, not the agents' default 15 s: a thousand agents share two cores
            // here, and while the mesh forms a keep-alive waits seconds for a thread; at 15 s
            // leases ran out and every agent published its claim again (a real node runs
            // one agent, not a thousand). Resync every 10 minutes: a resync reads the data
            // plane back, and the data plane is what this bench leaves out.
            agents.append(Agent(configuration: AgentConfiguration(settings: settings, leaseTTL: 60, resyncInterval: .seconds(600),
                                                                  statusInterval: .seconds(10)),
                                keys: keys, store: store, devices: devices, routing: routing, wallClock: SystemClock(),
                                logger: logger, health: health))
            healths.append(health)
            deviceIDs.append(ObjectIdentifier(devices))
            observed.append(devices)
        }
        // All built first, then started together: built while the first ones ran, a thousand
        // agents took minutes just to be created.
        let started = ContinuousClock.now
        for agent in agents { tasks.append(Task { try? await agent.run() }) }
        defer { tasks.forEach { $0.cancel() } }
        // Every agent programmed every other.
        // Forming the mesh is quadratic (every agent applies every peer): a thousand agents take
        // minutes on two cores, so the wait grows with N and says how far it got.
        try await waitFor("\(n) agents with \(n - 1) peers each", timeout: .seconds(Double(max(60, n * n / 2000))),
                          progress: { "  meshing: \(tracker.agentsWith(peers: n - 1)) of \(n) agents have every peer, "
                                      + "\(tracker.totalPeers()) of \(n * (n - 1)) peers programmed, after \(milliseconds(ContinuousClock.now - started)); "
                                      + healthTally(healths) }) {
            tracker.agentsWith(peers: n - 1) == n
        } onTimeout: {
            // Which accepted peers the slowest agents lack, and whether their revision says
            // they have seen them: tells a lost event from a pass not run.
            let records: [KeyValue]
            do { records = try await admin.list(prefix: StoreKeys.peersPrefix).items } catch {
                print("    cannot list the peer records to compare: \(error)")
                return
            }
            var shown = 0
            for i in 0..<n where shown < 3 {
                let keys = Set(await observed[i].inner.devices[NodeSettings.defaultInterface]?.peers.map(\.publicKey.base64) ?? [])
                guard keys.count < n - 1 else { continue }
                shown += 1
                let health = healths[i].snapshot
                let missing = records.filter { kv in
                    guard let record = try? RecordCodec.decode(PeerRecord.self, from: kv.value, key: kv.key) else { return false }
                    return record.node != "node-\(i)" && !keys.contains(record.publicKey)
                }
                let seen = missing.filter { $0.modRevision <= health.knownRevision }
                print("    node-\(i): \(keys.count) peers; lacks \(missing.count) records, \(seen.count) of them at or before its known "
                      + "revision \(health.knownRevision) (e.g. \(seen.prefix(3).map { "\($0.key)@\($0.modRevision)" })); \(health.reason)")
            }
        }
        let meshed = ContinuousClock.now - started
        print("  \(n) agents meshed after \(milliseconds(meshed))")

        // When the controller publishes each accepted peer: splits a slow change into the
        // controller's share and the agents'.
        let peerSeen = PeerTimes()
        let peerWatch = Task {
            let from = try await admin.currentRevision() + 1
            for try await batch in admin.watch(prefix: StoreKeys.root, from: from) {
                let now = ContinuousClock.now
                for event in batch.events {
                    let kind: String
                    switch event { case .put: kind = "put"; case .delete: kind = "delete" }
                    let parts = event.key.dropFirst(StoreKeys.root.count).split(separator: "/")
                    await peerSeen.count("\(kind) \(parts.first ?? "")")
                    if case .put(let kv) = event, kv.key.hasPrefix(StoreKeys.peersPrefix) { await peerSeen.record(kv.key, at: now) }
                }
            }
        }
        defer { peerWatch.cancel() }
        try await Task.sleep(for: .milliseconds(200))

        /// A new node's claim with a new key: the time until every agent has applied the key,
        /// and until the controller published the node's peer record.
        func newKey(_ c: Int) async throws -> (applied: Duration, published: Duration?) {
            let privateKey = KeyGeneration.generatePrivateKey()
            let key = KeyGeneration.publicKey(for: privateKey)
            let j = n + c
            let claim = ClaimRecord(node: "new-\(c)", publicKey: key.base64, address: "172.16.\(j >> 8).\(j & 255)", listenPort: 51830,
                                    podCIDRs: ["10.\(j >> 8).\(j & 255).0/24"])
            tracker.expect(key)
            let written = ContinuousClock.now
            try await admin.put(StoreKeys.claim(try NodeName("new-\(c)")), value: RecordCodec.encode(claim), lease: nil)
            do {
                try await waitFor("key \(c) on all \(n) agents", timeout: .seconds(60), poll: .milliseconds(5)) {
                    tracker.count(key) >= n
                }
            } catch {
                // Say which agents lack it and what their health says, then give up.
                let have = tracker.devices(with: key)
                let missing = deviceIDs.indices.filter { !have.contains(deviceIDs[$0]) }
                print("  key \(c) reached \(n - missing.count) of \(n) agents; store revision \((try? await admin.currentRevision()) ?? -1)")
                for i in missing.prefix(5) { print("    node-\(i): \(healths[i].snapshot)") }
                throw error
            }
            let published = await peerSeen.time(of: StoreKeys.peer(try NodeName("new-\(c)"))).map { $0 - written }
            return (tracker.lastApplied(key)! - written, published)
        }

        // One key first, not counted: agents that have every peer do not mean a settled
        // control plane. The controller may still be busy with what mesh formation left
        // behind (claims put again after calls timed out on two starved cores); at 1,000
        // agents the first key took 3.0 and 5.7 s in two runs, 2.4 and 4.9 s of it before the
        // controller published the peer, while the keys after it took about 1 s.
        let warmUp = try await newKey(changes)
        print("  warm-up key (not counted): every agent after \(milliseconds(warmUp.applied)), "
              + "published after \(warmUp.published.map(milliseconds) ?? "?")")
        try await Task.sleep(for: .milliseconds(300))
        await peerSeen.resetCounts()

        // New nodes, one at a time: claim written → key on every agent's device.
        let controllerCPU0 = cpuTime(pid: "\(controller.pid)")
        let requests0 = await etcdRequests(etcd)
        let window0 = ContinuousClock.now
        var latencies: [Duration] = []
        var published: [Duration] = []
        for c in 0..<changes {
            let (applied, seen) = try await newKey(c)
            latencies.append(applied)
            if let seen { published.append(seen) }
            try await Task.sleep(for: .milliseconds(300))
        }
        let window = ContinuousClock.now - window0
        let controllerCPU = cpuTime(pid: "\(controller.pid)").flatMap { now in controllerCPU0.map { now - $0 } }
        let requests = await etcdRequests(etcd).flatMap { now in requests0.map { now - $0 } }
        print("  new key → every agent: \(latencies.map(milliseconds))")
        print("  new key → controller published the peer: \(published.map(milliseconds))")

        var summary = Summary("convergence: \(n) agents on \(kind.rawValue) (agent loop in-process, data plane left out)")
        summary.add("agents start → fully meshed", milliseconds(meshed))
        summary.add("new key → applied by every agent, p50", milliseconds(percentile(50, of: latencies)))
        summary.add("new key → applied by every agent, p99 (of \(changes))", milliseconds(percentile(99, of: latencies)))
        if published.count == latencies.count {
            summary.add("  of which claim → peer published by the controller, p50", milliseconds(percentile(50, of: published)))
            summary.add("  of which claim → peer published by the controller, p99", milliseconds(percentile(99, of: published)))
        }
        let events = await peerSeen.counts.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }.joined(separator: ", ")
        summary.add("writes every agent is sent during the changes", events)
        summary.add("controller CPU during the changes", controllerCPU.map { String(format: "%.2f s of %.1f s (%.0f %% of a core)", $0.seconds, window.seconds, 100 * $0.seconds / window.seconds) } ?? "?")
        if let requests {
            summary.add("etcd gRPC requests during the changes", String(format: "%.0f (%.0f/s)", requests, requests / window.seconds))
        }
        summary.add("this process's RSS (all \(n) agents)", mebibytes(kB: memoryKB("VmRSS")))
        for store in stores {
            (store as? EtcdDatastore)?.close()
            (store as? SQLiteDatastore)?.close()
        }
        return summary
    }

    /// How many agents are in each state, the most common first, e.g. "998 in sync, 2 datastore
    /// unreachable: …" (revisions left out, so that agents in the same state count together).
    static func healthTally(_ healths: [AgentHealth]) -> String {
        var counts: [String: Int] = [:]
        for health in healths {
            let reason = health.snapshot.reason.replacing(/revision \d+/, with: "revision …").replacing(/applied \d+/, with: "applied …")
            counts[String(reason.prefix(160)), default: 0] += 1
        }
        return counts.sorted { $0.value > $1.value }.prefix(4).map { "\($0.value) \($0.key)" }.joined(separator: "; ")
    }

    static func waitFor(_ what: String, timeout: Duration, poll: Duration = .milliseconds(100),
                        progress: (() async -> String)? = nil, _ condition: () async throws -> Bool,
                        onTimeout: () async -> Void = {}) async throws {
        let deadline = ContinuousClock.now + timeout
        var nextReport = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            if (try? await condition()) == true { return }
            try await Task.sleep(for: poll)
            if let progress, ContinuousClock.now >= nextReport {
                // On standard error, unbuffered: it shows at once also when output goes to a file.
                FileHandle.standardError.write(Data((await progress() + "\n").utf8))
                nextReport = ContinuousClock.now + .seconds(10)
            }
        }
        await onTimeout()
        throw BenchError("timed out after \(timeout) waiting for \(what)")
    }

    /// etcd's count of gRPC requests handled so far, from its /metrics.
    static func etcdRequests(_ etcd: EtcdCluster?) async -> Double? {
        guard let member = etcd?.members.first else { return nil }
        return etcdRequestCount(host: member.host, port: member.clientPort)
    }

    /// The sum of etcd's `grpc_server_handled_total` at `host:port`, or nil.
    static func etcdRequestCount(host: String, port: Int) -> Double? {
        guard let text = plainHTTPGet(host: host, port: port, path: "/metrics") else { return nil }
        return text.split(separator: "\n")
            .filter { $0.hasPrefix("grpc_server_handled_total{") }
            .compactMap { $0.split(separator: " ").last.flatMap { Double($0) } }
            .reduce(0, +)
    }

    /// The body of an HTTP/1.0 GET on loopback (etcd's metrics), or nil.
    static func plainHTTPGet(host: String, port: Int, path: String) -> String? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        guard inet_pton(AF_INET, host, &address.sin_addr) == 1 else { return nil }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return nil }
        let request = Array("GET \(path) HTTP/1.0\r\nHost: \(host)\r\n\r\n".utf8)
        guard request.withUnsafeBytes({ send(fd, $0.baseAddress, $0.count, 0) }) == request.count else { return nil }
        var response: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buffer.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n <= 0 { break }
            response += buffer[0..<n]
        }
        let text = String(decoding: response, as: UTF8.self)
        guard let body = text.range(of: "\r\n\r\n") else { return nil }
        return String(text[body.upperBound...])
    }

    static func siblingExecutable(_ name: String) throws -> String {
        let path = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent().appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: path) else { throw BenchError("\(name) not found next to meshguard-bench; pass --meshguard") }
        return path
    }
}

/// The wall clock the agents stamp their status with.
struct SystemClock: WallClock {
    func now() -> Timestamp { Timestamp(seconds: Date().timeIntervalSince1970) }
}

/// When each peer key was first seen put.
actor PeerTimes {
    private var times: [String: ContinuousClock.Instant] = [:]
    func record(_ key: String, at instant: ContinuousClock.Instant) { if times[key] == nil { times[key] = instant } }
    func time(of key: String) -> ContinuousClock.Instant? { times[key] }
    private(set) var counts: [String: Int] = [:]
    func count(_ what: String) { counts[what, default: 0] += 1 }
    /// Forgets the writes counted so far (the warm-up key's).
    func resetCounts() { counts = [:] }
}

/// When each agent's device received which awaited key. A lock, not an actor: a thousand
/// agents report to it after every patch, and as an actor its queue of messages delayed both
/// them and the bench's own polling.
final class KeyTracker: Sendable {
    private struct State {
        var awaited: Set<PublicKey> = []
        var applied: [PublicKey: (count: Int, last: ContinuousClock.Instant)] = [:]
        var appliedBy: [PublicKey: Set<ObjectIdentifier>] = [:]
        var peerCounts: [ObjectIdentifier: Int] = [:]
    }
    private let state = Mutex(State())

    func expect(_ key: PublicKey) { state.withLock { _ = $0.awaited.insert(key) } }

    func record(_ keys: [PublicKey], peers: Int, at instant: ContinuousClock.Instant, by device: ObjectIdentifier) {
        state.withLock { s in
            s.peerCounts[device] = peers
            for key in keys where s.awaited.contains(key) {
                let old = s.applied[key]
                s.applied[key] = ((old?.count ?? 0) + 1, instant)
                s.appliedBy[key, default: []].insert(device)
            }
        }
    }

    func devices(with key: PublicKey) -> Set<ObjectIdentifier> { state.withLock { $0.appliedBy[key] ?? [] } }
    func count(_ key: PublicKey) -> Int { state.withLock { $0.applied[key]?.count ?? 0 } }
    func lastApplied(_ key: PublicKey) -> ContinuousClock.Instant? { state.withLock { $0.applied[key]?.last } }
    func agentsWith(peers: Int) -> Int { state.withLock { $0.peerCounts.values.filter { $0 >= peers }.count } }
    func totalPeers() -> Int { state.withLock { $0.peerCounts.values.reduce(0, +) } }
}

/// The in-memory device of one agent, telling the tracker when a patch adds a peer.
final class ObservedDevices: WireGuardDevices {
    let inner: FakeWireGuardDevices
    let tracker: KeyTracker
    var kind: WireGuardBackendKind { inner.kind }

    init(_ inner: FakeWireGuardDevices, tracker: KeyTracker) {
        self.inner = inner
        self.tracker = tracker
    }

    func ensureDevice(named name: String) async throws -> Bool { try await inner.ensureDevice(named: name) }
    func device(named name: String) async throws -> DeviceState? { try await inner.device(named: name) }
    func deleteDevice(named name: String) async throws { try await inner.deleteDevice(named: name) }

    func apply(_ patch: DevicePatch, to name: String) async throws {
        try await inner.apply(patch, to: name)
        let now = ContinuousClock.now
        let peers = try await inner.device(named: name)?.peers.count ?? 0
        tracker.record(patch.peers.filter { !$0.remove }.map(\.publicKey), peers: peers, at: now, by: ObjectIdentifier(self))
    }
}
