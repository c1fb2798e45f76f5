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
        let url: String
        switch kind {
        case .etcd:
            let cluster = try EtcdCluster.start(parentDirectory: scratch.path)
            etcd = cluster
            url = cluster.datastoreURL
        case .sqlite:
            url = "sqlite://\(scratch.path)/meshguard.db"
        }
        defer { etcd?.stop() }
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
        defer {
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
        logger.logLevel = .critical
        var tasks: [Task<Void, Never>] = []
        var stores: [any Datastore] = []
        var agents: [Agent] = []
        var healths: [AgentHealth] = []
        var deviceIDs: [ObjectIdentifier] = []
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
            agents.append(Agent(configuration: AgentConfiguration(settings: settings, leaseTTL: 15, resyncInterval: .seconds(30),
                                                                  statusInterval: .seconds(10)),
                                keys: keys, store: store, devices: devices, routing: routing, wallClock: SystemClock(),
                                logger: logger, health: health))
            healths.append(health)
            deviceIDs.append(ObjectIdentifier(devices))
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
                          progress: { "  meshing: \(await tracker.agentsWith(peers: n - 1)) of \(n) agents have every peer, "
                                      + "\(await tracker.totalPeers()) of \(n * (n - 1)) peers programmed, after \(milliseconds(ContinuousClock.now - started))" }) {
            await tracker.agentsWith(peers: n - 1) == n
        }
        let meshed = ContinuousClock.now - started
        print("  \(n) agents meshed after \(milliseconds(meshed))")

        // New nodes, one at a time: claim written → key on every agent's device.
        let controllerCPU0 = cpuTime(pid: "\(controller.pid)")
        let requests0 = await etcdRequests(etcd)
        let window0 = ContinuousClock.now
        var latencies: [Duration] = []
        var published: [Duration] = []
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
        for c in 0..<changes {
            let privateKey = KeyGeneration.generatePrivateKey()
            let key = KeyGeneration.publicKey(for: privateKey)
            let j = n + c
            let claim = ClaimRecord(node: "new-\(c)", publicKey: key.base64, address: "172.16.\(j >> 8).\(j & 255)", listenPort: 51830,
                                    podCIDRs: ["10.\(j >> 8).\(j & 255).0/24"])
            await tracker.expect(key)
            let written = ContinuousClock.now
            try await admin.put(StoreKeys.claim(try NodeName("new-\(c)")), value: RecordCodec.encode(claim), lease: nil)
            do {
                try await waitFor("key \(c) on all \(n) agents", timeout: .seconds(60), poll: .milliseconds(5)) {
                    await tracker.count(key) >= n
                }
            } catch {
                // Say which agents lack it and what their health says, then give up.
                let have = await tracker.devices(with: key)
                let missing = deviceIDs.indices.filter { !have.contains(deviceIDs[$0]) }
                print("  key \(c) reached \(n - missing.count) of \(n) agents; store revision \((try? await admin.currentRevision()) ?? -1)")
                for i in missing.prefix(5) { print("    node-\(i): \(healths[i].snapshot)") }
                throw error
            }
            latencies.append(await tracker.lastApplied(key)! - written)
            if let seen = await peerSeen.time(of: StoreKeys.peer(try NodeName("new-\(c)"))) { published.append(seen - written) }
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

    static func waitFor(_ what: String, timeout: Duration, poll: Duration = .milliseconds(100),
                        progress: (() async -> String)? = nil, _ condition: () async throws -> Bool) async throws {
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
}

/// When each agent's device received which awaited key.
actor KeyTracker {
    private var awaited: Set<PublicKey> = []
    private var applied: [PublicKey: (count: Int, last: ContinuousClock.Instant)] = [:]
    private var peerCounts: [ObjectIdentifier: Int] = [:]

    func expect(_ key: PublicKey) { awaited.insert(key) }

    private var appliedBy: [PublicKey: Set<ObjectIdentifier>] = [:]

    func record(_ keys: [PublicKey], at instant: ContinuousClock.Instant, by device: ObjectIdentifier) {
        for key in keys where awaited.contains(key) {
            let old = applied[key]
            applied[key] = ((old?.count ?? 0) + 1, instant)
            appliedBy[key, default: []].insert(device)
        }
    }

    func devices(with key: PublicKey) -> Set<ObjectIdentifier> { appliedBy[key] ?? [] }

    func count(_ key: PublicKey) -> Int { applied[key]?.count ?? 0 }
    func lastApplied(_ key: PublicKey) -> ContinuousClock.Instant? { applied[key]?.last }

    func setPeers(_ count: Int, of device: ObjectIdentifier) { peerCounts[device] = count }
    func agentsWith(peers: Int) -> Int { peerCounts.values.filter { $0 >= peers }.count }
    func totalPeers() -> Int { peerCounts.values.reduce(0, +) }
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
        await tracker.record(patch.peers.filter { !$0.remove }.map(\.publicKey), at: now, by: ObjectIdentifier(self))
        let peers = try await inner.device(named: name)?.peers.count ?? 0
        await tracker.setPeers(peers, of: ObjectIdentifier(self))
    }
}
