import Foundation
@testable import MeshStoreSQLite
import MeshCore
import MeshLab
import MeshStoreEtcd
import MeshTestKit
import Synchronization
import Testing

/// The backends the conformance suite runs against; the checks use only the ``Datastore``
/// protocol plus the two hooks of ``StoreUnderTest``. etcd is a real `etcd` process (Debian's
/// etcd-server) per test, on free loopback ports with a fresh data directory.
enum Backend: String, Sendable, CaseIterable, CustomTestStringConvertible {
    case sqlite
    case memory
    case etcd

    var testDescription: String { rawValue }
}

/// A datastore under test, and what the suite needs beyond the protocol.
struct StoreUnderTest: Sendable {
    let store: any Datastore
    /// Lets `seconds` of lease time pass and the backend act on expired leases before
    /// returning (a manual clock plus a reap for SQLite, `advance(by:)` for memory; real time
    /// for etcd).
    let passTime: @Sendable (Double) async throws -> Void
    /// How many watches the backend still serves, where it can tell.
    let activeWatches: @Sendable () async -> Int?
}

/// Runs `body` with a fresh, empty store of `backend`, and removes it afterwards.
func withStore<T>(_ backend: Backend, _ body: (StoreUnderTest) async throws -> T) async throws -> T {
    switch backend {
    case .memory:
        let store = InMemoryDatastore()
        return try await body(StoreUnderTest(store: store,
                                             passTime: { await store.advance(by: $0) },
                                             activeWatches: { await store.watchCount }))
    case .sqlite:
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let clock = ManualClock()
        var configuration = SQLiteDatastore.Configuration()
        configuration.clock = clock
        let store = try SQLiteDatastore(path: directory.file("store.db"), configuration: configuration)
        defer { store.close() }
        return try await body(StoreUnderTest(store: store,
                                             passTime: { seconds in
                                                 clock.advance(by: seconds)
                                                 try await store.reapExpiredLeases()
                                             },
                                             activeWatches: { store.activeWatchCount }))
    case .etcd:
        // A few etcd processes at a time: dozens starting at once on a small machine (the
        // whole suite runs in parallel) starve each other past any request timeout.
        await etcdSlots.acquire()
        defer { Task { await etcdSlots.release() } }
        let cluster = try EtcdCluster.start()
        defer { cluster.stop() }
        let store = try EtcdDatastore(configuration: testEtcdConfiguration(cluster.endpoints))
        defer { store.close() }
        do {
            return try await body(StoreUnderTest(store: store,
                                                 passTime: { seconds in
                                                     // Real time: etcd's lessor checks for expired leases every 500 ms
                                                     // and revokes them through raft, so expiry lands up to ~1 s late.
                                                     try await Task.sleep(for: .seconds(seconds + 1))
                                                 },
                                                 activeWatches: { nil }))
        } catch {
            print(cluster.logs())
            throw error
        }
    }
}

private let etcdSlots = Slots(4)

/// The client settings of the etcd tests: a generous request timeout, because the whole suite
/// runs in this one process on a small machine, and blocking tests elsewhere in it can hold
/// the few threads the gRPC client runs on for seconds. The checks are about behaviour, not
/// latency (the benchmarks measure that).
func testEtcdConfiguration(_ endpoints: [DatastoreEndpoint], tls: EtcdConfiguration.TLS? = nil,
                           credentials: EtcdConfiguration.Credentials? = nil) -> EtcdConfiguration {
    var configuration = EtcdConfiguration(endpoints: endpoints, tls: tls, credentials: credentials)
    configuration.requestTimeout = .seconds(30)
    return configuration
}

/// A counting semaphore for async code: at most `count` holders at once, the rest wait in order.
actor Slots {
    private var free: Int
    private var waiting: [CheckedContinuation<Void, Never>] = []

    init(_ count: Int) { free = count }

    func acquire() async {
        if free > 0 {
            free -= 1
            return
        }
        await withCheckedContinuation { waiting.append($0) }
    }

    func release() {
        if waiting.isEmpty {
            free += 1
        } else {
            waiting.removeFirst().resume()
        }
    }
}

/// A wall clock that moves only when told.
final class ManualClock: WallClock {
    private let seconds: Mutex<Double>

    init(start: Double = 1_700_000_000) {
        seconds = Mutex(start)
    }

    func now() -> Timestamp { Timestamp(seconds: seconds.withLock { $0 }) }

    func advance(by delta: Double) {
        seconds.withLock { $0 += delta }
    }
}

/// A directory of its own under the system's temporary directory.
struct TemporaryDirectory: Sendable {
    let path: String

    init() throws {
        var template = Array((NSTemporaryDirectory() + "/meshguard-store-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else {
            throw MeshError(.internalError, "mkdtemp failed", errno: errno)
        }
        path = String(cString: created)
    }

    func file(_ name: String) -> String { path + "/" + name }

    func remove() {
        try? FileManager.default.removeItem(atPath: path)
    }
}

func bytes(_ string: String) -> [UInt8] { Array(string.utf8) }

func text(_ bytes: [UInt8]) -> String { String(decoding: bytes, as: UTF8.self) }

/// The wall-clock time in nanoseconds, for latency measurements across processes.
func wallClockNanoseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

/// Runs `body` and returns the ``MeshError`` it throws; records an issue when it throws none
/// or another error.
@discardableResult
func meshError(_ body: () async throws -> Void,
               sourceLocation: SourceLocation = #_sourceLocation) async -> MeshError? {
    do {
        try await body()
        Issue.record("expected a MeshError, got none", sourceLocation: sourceLocation)
        return nil
    } catch let error as MeshError {
        return error
    } catch {
        Issue.record("expected a MeshError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

/// Milliseconds statistics of latency samples (nanoseconds), for printing.
struct LatencySummary: CustomStringConvertible {
    let samples: [Int64]

    func percentile(_ p: Double) -> Double {
        let sorted = samples.sorted()
        guard !sorted.isEmpty else { return .nan }
        let index = min(sorted.count - 1, Int((Double(sorted.count - 1) * p).rounded()))
        return Double(sorted[index]) / 1e6
    }

    var median: Double { percentile(0.5) }

    var description: String {
        func ms(_ value: Double) -> String { String(format: "%.1f ms", value) }
        return "n=\(samples.count) min \(ms(percentile(0))) p50 \(ms(percentile(0.5))) p90 \(ms(percentile(0.9))) "
            + "p99 \(ms(percentile(0.99))) max \(ms(percentile(1)))"
    }
}
