import Foundation
import GRDB
import MeshCore

/// The embedded datastore: etcd v3 semantics in one SQLite file, shared by every Meshguard
/// process on the host (the controller, agents, the CLI), each with its own instance.
///
/// Correctness never depends on one process: revisions are assigned under SQLite's write lock,
/// every instance polls the file for the others' writes, and any instance may reap expired
/// leases. See ``Schema`` for the layout and why revisions have no gaps.
///
/// Errors are ``MeshError``s, as the ``Datastore`` protocol lists them. Beyond those:
/// `.backendFailure` for a file that is not a SQLite database, belongs to another program or
/// was written by a newer Meshguard, and for SQLite failures that retrying will not cure.
/// Lock contention with other processes is retried internally and surfaces as `.unavailable`
/// only when the lock stays taken well past ``Configuration/busyTimeout``.
///
/// Releasing the last reference closes the instance as ``close()`` does.
public final class SQLiteDatastore: Datastore {
    public struct Configuration: Sendable {
        /// How often the file is checked for other processes' writes. Local writes are seen at
        /// once; this bounds how late a watcher hears of another process's write.
        public var pollInterval: Duration = .milliseconds(20)
        /// How often this instance looks for expired leases. A lease's keys are deleted at most
        /// this long after it expires (sooner when another process reaps first).
        public var leaseReaperInterval: Duration = .milliseconds(250)
        /// How long a write waits for another connection's write lock before retrying.
        public var busyTimeout: Duration = .seconds(5)
        /// The wall clock that lease expiry is measured on; the host's clock unless a test
        /// injects one.
        public var clock: any WallClock

        public init() {
            clock = SystemWallClock()
        }
    }

    /// The database file.
    public let path: String
    let storage: Storage
    private let tasks: [Task<Void, Never>]

    /// Opens the datastore at `path`, creating the file and its schema if missing, and starts
    /// this instance's watch poller and lease reaper.
    ///
    /// - Throws: `.unavailable` naming the path when the file cannot be opened or created (its
    ///   directory is missing, the path is a directory, the disk is read-only): a caller may
    ///   retry later. `.backendFailure` when the file is not a Meshguard datastore.
    public init(path: String, configuration: Configuration = Configuration()) throws {
        self.path = path
        let storage = try Storage(path: path, busyTimeout: configuration.busyTimeout, clock: configuration.clock)
        self.storage = storage
        let poll = configuration.pollInterval
        let reap = configuration.leaseReaperInterval
        tasks = [
            Task { await storage.hub.run(storage: storage, every: poll) },
            Task { await Self.reapLeases(storage: storage, every: reap) },
        ]
    }

    deinit {
        close()
    }

    /// Stops the poller and the reaper. Active watches end with `.unavailable`, and later calls
    /// throw `.unavailable`. Calling it twice is not an error.
    public func close() {
        storage.close()
        for task in tasks { task.cancel() }
        storage.hub.close(with: MeshError(.unavailable, "datastore \(path) was closed"))
    }

    public func get(_ key: String) async throws -> KeyValue? {
        try DatastoreLimits.check(key: key)
        let name = Data(key.utf8)
        return try await storage.read { db in try LogStore.live(db, name: name)?.keyValue }
    }

    public func list(prefix: String) async throws -> Listing {
        let range = KeyRange(prefix: prefix)
        return try await storage.read { db in
            Listing(items: try LogStore.live(db, in: range).map(\.keyValue), revision: try LogStore.revision(db))
        }
    }

    @discardableResult
    public func put(_ key: String, value: [UInt8], lease: LeaseID?) async throws -> Revision {
        let result = try await commit(Transaction(compares: [], success: [.put(key: key, value: value, lease: lease)]))
        return result.revision
    }

    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        try DatastoreLimits.check(key: key)
        let name = Data(key.utf8)
        return try await storage.write { writer, _ in try writer.delete(name) }
    }

    public func commit(_ transaction: Transaction) async throws -> TransactionResult {
        try DatastoreLimits.check(transaction)
        return try await storage.write { writer, now in
            try Transactions.apply(transaction, writer: &writer, now: now)
        }
    }

    /// Changes under `prefix` from `revision` on. A revision of 0 or less means "from the next
    /// revision", as etcd's start revision 0 does. Watching a future revision is not an error:
    /// the watch waits for it.
    public func watch(prefix: String, from revision: Revision) -> AsyncThrowingStream<WatchBatch, any Error> {
        storage.hub.subscribe(prefix: prefix, from: revision)
    }

    /// - Throws: `.invalidArgument` for a TTL outside 1…9_000_000_000 seconds.
    public func grantLease(ttl: Int64) async throws -> Lease {
        try DatastoreLimits.check(ttl: ttl)
        return try await storage.write { writer, now in try Leases.grant(ttl: ttl, db: writer.db, now: now) }
    }

    @discardableResult
    public func keepAlive(_ lease: LeaseID) async throws -> Int64 {
        let renewal = try await storage.write { writer, now in try Leases.renew(lease, writer: &writer, now: now) }
        switch renewal {
        case .renewed(let ttl): return ttl
        case .notFound: throw MeshError(.leaseNotFound, "lease \(lease) not found or expired")
        }
    }

    public func revoke(_ lease: LeaseID) async throws {
        try await storage.write { writer, _ in try Leases.revoke(lease.rawValue, writer: &writer) }
    }

    /// Compacting at or below the compact revision is not an error; it does nothing. A watch
    /// of this instance or another that has not yet been handed the revisions below `revision`
    /// ends with `.compacted`, since some of them may be gone.
    /// - Throws: `.invalidArgument` for a revision after the current one.
    public func compact(upTo revision: Revision) async throws {
        try await storage.write { writer, _ in try Compaction.compact(upTo: revision, db: writer.db) }
    }

    public func currentRevision() async throws -> Revision {
        try await storage.read(LogStore.revision)
    }

    /// Deletes the keys of every lease expired by now; the reaper calls this on its timer.
    /// Returns how many leases were reaped.
    @discardableResult
    func reapExpiredLeases() async throws -> Int {
        try await Self.reapOnce(storage: storage)
    }

    /// Number of watches being served (for tests of cancellation).
    var activeWatchCount: Int { storage.hub.subscriberCount }

    private static func reapOnce(storage: Storage) async throws -> Int {
        let now = storage.clock.now()
        guard try await storage.read({ db in try Leases.anyExpired(db: db, now: now) }) else { return 0 }
        var total = 0
        while true {
            let reaped = try await storage.write { writer, now in try Leases.reapExpired(writer: &writer, now: now) }
            total += reaped
            if reaped < Leases.reapBatch { return total }
        }
    }

    private static func reapLeases(storage: Storage, every interval: Duration) async {
        while !Task.isCancelled {
            // A failed reap (the file is locked or gone for a moment) is retried next tick;
            // callers see the same failure on their own calls.
            _ = try? await reapOnce(storage: storage)
            try? await Task.sleep(for: interval)
        }
    }
}
