// `meshguard-bench cluster-probe` (hidden): the measuring side of `cluster`, started by it
// inside the lab's fabric namespace, where the datastore is. Waits until every agent's status
// lists every other node, then publishes new claims one at a time and times them until every
// agent's status shows the new key programmed on its device. Prints progress lines, then one
// JSON line with the figures.

import Foundation
import MeshCodec
import MeshCore
import MeshCrypto
import MeshStoreEtcd
import MeshStoreSQLite

enum ClusterProbe {
    struct Result: Codable {
        var meshedMs: Double
        var latenciesMs: [Double]
        var publishedMs: [Double]
        var windowMs: Double
        var controllerCPUSeconds: Double?
        var etcdRequests: Double?
        /// CPU of every `meshguard agent` and every wireguard-go process during the changes.
        var agentsCPUSeconds: Double?
        var wireGuardCPUSeconds: Double?
    }

    /// - Parameter startedAt: when the agents were started, in seconds since 1970 (another
    ///   process started them).
    static func run(url: String, agents n: Int, changes: Int, controllerPID: String, startedAt: Double) async throws {
        let location = try DatastoreLocation(url)
        let store: any Datastore
        var metricsEndpoint: DatastoreEndpoint?
        switch location {
        case .sqlite(let path): store = try SQLiteDatastore(path: path)
        case .etcd(let endpoints):
            store = try EtcdDatastore(configuration: EtcdConfiguration(endpoints: endpoints))
            metricsEndpoint = endpoints.first
        }

        // The mesh is formed when every agent's status lists the n - 1 others.
        let seen = Seen()
        let statusWatch = Task {
            for try await batch in store.watch(prefix: StoreKeys.statusPrefix, from: 0) {
                let now = ContinuousClock.now
                for case .put(let kv) in batch.events { await seen.status(kv, at: now) }
            }
        }
        let peerWatch = Task {
            for try await batch in store.watch(prefix: StoreKeys.peersPrefix, from: 0) {
                let now = ContinuousClock.now
                for case .put(let kv) in batch.events { await seen.peer(kv.key, at: now) }
            }
        }
        defer { statusWatch.cancel(); peerWatch.cancel() }
        // Statuses written before the watch started: list them once.
        for kv in try await store.list(prefix: StoreKeys.statusPrefix).items { await seen.status(kv, at: ContinuousClock.now) }
        try await ConvergenceBenchmark.waitFor("\(n) agents listing \(n - 1) peers each", timeout: .seconds(Double(max(120, 3 * n))),
                                               progress: { "  meshing: \(await seen.nodesWith(peers: n - 1)) of \(n) statuses list every peer" }) {
            await seen.nodesWith(peers: n - 1) >= n
        }
        let meshedMs = (Date().timeIntervalSince1970 - startedAt) * 1000
        print(String(format: "  %d agents meshed %.1f ms after they were started", n, meshedMs))
        // The last agents to mesh are still writing statuses and the controller its last
        // batches: let that drain, so that the first key measures the steady state like the
        // others rather than the tail of mesh formation.
        try await Task.sleep(for: .seconds(3))

        let cpu0 = cpuTime(pid: controllerPID)
        let agents0 = totalCPU(of: isAgent), wireGuard0 = totalCPU(of: isWireGuardGo)
        let requests0 = metricsEndpoint.flatMap { etcdRequests($0) }
        let window0 = ContinuousClock.now
        var latencies: [Double] = [], published: [Double] = []
        for c in 0..<changes {
            let privateKey = KeyGeneration.generatePrivateKey()
            let key = KeyGeneration.publicKey(for: privateKey)
            let j = n + 1 + c
            let node = try NodeName("new-\(c)")
            let claim = ClaimRecord(node: node.rawValue, publicKey: key.base64, address: "192.168.77.\(10 + j)", listenPort: 51830,
                                    podCIDRs: ["10.244.\(j).0/24"])
            await seen.expect(key.fingerprint)
            let written = ContinuousClock.now
            try await store.put(StoreKeys.claim(node), value: RecordCodec.encode(claim), lease: nil)
            try await ConvergenceBenchmark.waitFor("key \(c) in all \(n) statuses", timeout: .seconds(60), poll: .milliseconds(5)) {
                await seen.count(key.fingerprint) >= n
            }
            latencies.append(milliseconds(await seen.last(key.fingerprint)! - written))
            if let at = await seen.peerTime(StoreKeys.peer(node)) { published.append(milliseconds(at - written)) }
            try await Task.sleep(for: .milliseconds(300))
        }
        let window = ContinuousClock.now - window0
        print("  new key → every agent's status: \(latencies.map { String(format: "%.1f ms", $0) })")
        let result = Result(meshedMs: meshedMs, latenciesMs: latencies, publishedMs: published, windowMs: milliseconds(window),
                            controllerCPUSeconds: cpuTime(pid: controllerPID).flatMap { now in cpu0.map { (now - $0).seconds } },
                            etcdRequests: metricsEndpoint.flatMap { etcdRequests($0) }.flatMap { now in requests0.map { now - $0 } },
                            agentsCPUSeconds: (totalCPU(of: isAgent) - agents0).seconds,
                            wireGuardCPUSeconds: (totalCPU(of: isWireGuardGo) - wireGuard0).seconds)
        print(String(decoding: try JSONEncoder().encode(result), as: UTF8.self))
        (store as? EtcdDatastore)?.close()
        (store as? SQLiteDatastore)?.close()
    }

    static func milliseconds(_ d: Duration) -> Double { d.seconds * 1000 }

    static func isAgent(_ argv: [String]) -> Bool { argv.count > 1 && argv[0].hasSuffix("meshguard") && argv[1] == "agent" }
    static func isWireGuardGo(_ argv: [String]) -> Bool { argv.first?.hasSuffix("wireguard-go") == true }

    /// CPU used so far by every process whose command line matches (only the lab's run here).
    static func totalCPU(of matches: ([String]) -> Bool) -> Duration {
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        var total = Duration.zero
        for pid in entries where Int(pid) != nil {
            guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
            if matches(data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }), let cpu = cpuTime(pid: pid) { total += cpu }
        }
        return total
    }

    static func etcdRequests(_ endpoint: DatastoreEndpoint) -> Double? {
        ConvergenceBenchmark.etcdRequestCount(host: endpoint.host, port: endpoint.port)
    }
}

/// What the statuses and peer records showed, and when.
actor Seen {
    private var peersOf: [String: Int] = [:]
    private var awaited: Set<String> = []
    private var shownBy: [String: Set<String>] = [:]
    private var lastShown: [String: ContinuousClock.Instant] = [:]
    private var peerTimes: [String: ContinuousClock.Instant] = [:]

    func expect(_ fingerprint: String) { awaited.insert(fingerprint) }

    /// Reads a status record without decoding it: a full JSON decode of every status (100
    /// agents, 100 peers each, after every key) cost this probe more CPU than the agents'
    /// own passes, on the cores it measures. The record is canonical JSON (sorted keys):
    /// each peer has one `"publicKeyFingerprint":"…"` field, and the node itself one more.
    func status(_ kv: KeyValue, at instant: ContinuousClock.Instant) {
        guard let node = StoreKeys.nodeSuffix(of: kv.key, prefix: StoreKeys.statusPrefix) else { return }
        let fingerprints = Self.fields(Self.fingerprintField, in: kv.value)
        peersOf[node] = max(0, fingerprints.count - 1)
        for fingerprint in fingerprints where awaited.contains(fingerprint) {
            if shownBy[fingerprint, default: []].insert(node).inserted { lastShown[fingerprint] = instant }
        }
    }

    static let fingerprintField = Array(#""publicKeyFingerprint":""#.utf8)

    /// Every string value that follows `field` in `bytes`.
    static func fields(_ field: [UInt8], in bytes: [UInt8]) -> [String] {
        var values: [String] = []
        var i = 0
        let quote = UInt8(ascii: "\"")
        while i + field.count <= bytes.count {
            if bytes[i] == field[0] && bytes[i..<(i + field.count)].elementsEqual(field) {
                let start = i + field.count
                guard let end = bytes[start...].firstIndex(of: quote) else { break }
                values.append(String(decoding: bytes[start..<end], as: UTF8.self))
                i = end + 1
            } else {
                i += 1
            }
        }
        return values
    }

    func peer(_ key: String, at instant: ContinuousClock.Instant) { if peerTimes[key] == nil { peerTimes[key] = instant } }

    func nodesWith(peers: Int) -> Int { peersOf.values.filter { $0 >= peers }.count }
    func count(_ fingerprint: String) -> Int { shownBy[fingerprint]?.count ?? 0 }
    func last(_ fingerprint: String) -> ContinuousClock.Instant? { lastShown[fingerprint] }
    func peerTime(_ key: String) -> ContinuousClock.Instant? { peerTimes[key] }
}
