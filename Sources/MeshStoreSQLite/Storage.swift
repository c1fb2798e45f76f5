import Foundation
import GRDB
import MeshCore
import Synchronization

/// The open database and the two ways into it: snapshot reads and `BEGIN IMMEDIATE` writes that
/// append to the log. Shared by the public ``SQLiteDatastore`` and its background tasks (the
/// watch poller, the lease reaper), which hold this object and never the datastore itself, so
/// that dropping the datastore stops them.
final class Storage: Sendable {
    let path: String
    let pool: DatabasePool
    let clock: any WallClock
    let hub: WatchHub
    private let closed = Mutex(false)

    /// Retries after SQLite's busy timeout ran out; beyond these the caller gets `.unavailable`.
    private static let busyRetries = 4

    init(path: String, busyTimeout: Duration, clock: any WallClock) throws {
        self.path = path
        self.clock = clock
        var configuration = GRDB.Configuration()
        configuration.label = "meshguard-store"
        // DatabasePool puts the file in WAL mode: readers never block the writer, and a
        // reader's transaction sees the database as of its first read (a consistent snapshot).
        configuration.journalMode = .wal
        // Retry every 2 ms up to the busy timeout, not SQLite's default schedule, which backs
        // off in growing sleeps (up to 100 ms): with many writers on one file, a process that
        // sleeps long is likely to find the lock taken again each time it wakes.
        let tries = max(1, Int(busyTimeout / .milliseconds(2)))
        configuration.busyMode = .callback { attempt in
            guard attempt < tries else { return false }
            usleep(2_000)
            return true
        }
        do {
            pool = try DatabasePool(path: path, configuration: configuration)
            try pool.writeWithoutTransaction { db in
                try db.inTransaction(.immediate) {
                    try Schema.migrate(db, path: path)
                    return .commit
                }
            }
            hub = WatchHub(position: try pool.read(LogStore.revision))
        } catch {
            throw StoreErrors.opening(error, path: path)
        }
    }

    /// Stops new calls; they throw `.unavailable` from now on.
    func close() {
        closed.withLock { $0 = true }
    }

    private func checkOpen() throws(MeshError) {
        if closed.withLock({ $0 }) {
            throw MeshError(.unavailable, "datastore \(path) is closed")
        }
    }

    /// Runs `body` in a read transaction: every read inside sees one snapshot.
    func read<T: Sendable>(_ body: @escaping @Sendable (Database) throws -> T) async throws -> T {
        try checkOpen()
        return try await retryingBusy { try await self.pool.read(body) }
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction with a ``LogWriter`` and the current
    /// wall-clock time, commits, and wakes the watch poller when the revision moved. An error
    /// thrown by `body` rolls everything back.
    func write<T: Sendable>(_ body: @escaping @Sendable (inout LogWriter, Timestamp) throws -> T) async throws -> T {
        try checkOpen()
        let clock = self.clock
        let (result, revision) = try await retryingBusy {
            try await self.pool.writeWithoutTransaction { db in
                var outcome: (T, Revision?)?
                // IMMEDIATE takes the write lock up front. A DEFERRED transaction that reads
                // first and writes later can fail with SQLITE_BUSY at the upgrade, which no
                // busy timeout cures when another process wrote in between.
                try db.inTransaction(.immediate) {
                    var writer = try LogWriter(db)
                    let result = try body(&writer, clock.now())
                    try writer.finish()
                    outcome = (result, writer.changed ? writer.revision : nil)
                    return .commit
                }
                return outcome!
            }
        }
        if let revision { hub.committed(revision) }
        return result
    }

    private func retryingBusy<T: Sendable>(_ operation: @Sendable () async throws -> T) async throws -> T {
        var attempt = 0
        while true {
            do {
                return try await operation()
            } catch where StoreErrors.isBusy(error) && attempt < Self.busyRetries {
                attempt += 1
                try await Task.sleep(for: .milliseconds(10 << attempt))
            } catch {
                throw StoreErrors.translate(error, path: path)
            }
        }
    }
}
