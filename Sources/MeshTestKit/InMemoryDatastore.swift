import Foundation
import MeshCore

/// A ``Datastore`` held in memory, with the same etcd semantics as the SQLite and etcd backends,
/// for tests of the agent and the controller. The datastore conformance suite runs against it.
///
/// Time is under the test's control: lease expiry is measured on a clock that moves only with
/// ``advance(by:)`` unless a ``WallClock`` is injected (then `advance(by:)` adds to it). Expired
/// leases are reaped, deleting their keys with delete events, when time is advanced and at the
/// start of every call.
///
/// Failure injection, for tests of callers: ``failNext(_:with:)`` makes one call fail,
/// ``makeUnavailable(_:)`` makes every call and watch fail `.unavailable` until ``restore()``,
/// and ``endWatches(with:)`` ends the active watches (by default with `.compacted`, as a
/// compaction behind a slow watcher would).
public actor InMemoryDatastore: Datastore {
    /// The calls that ``failNext(_:with:)`` can make fail.
    public enum Operation: Hashable, Sendable, CaseIterable {
        case get, list, put, delete, commit, watch, grantLease, keepAlive, revoke, compact, currentRevision
    }

    private struct LeaseState {
        var ttl: Int64
        var expiresAt: Double
    }

    private struct Watcher {
        let prefix: [UInt8]
        let from: Revision
        let continuation: AsyncThrowingStream<WatchBatch, any Error>.Continuation
    }

    private let clock: (any WallClock)?
    private var offset: Double = 0
    private var revision: Revision = 1
    private var compactRevision: Revision = 0
    /// Live keys by their UTF-8 bytes: keys compare and sort as bytes, as in etcd.
    private var live: [[UInt8]: KeyValue] = [:]
    /// Every revision's events, oldest first, for watch replay; trimmed by compaction.
    private var history: [(revision: Revision, events: [WatchEvent])] = []
    private var leases: [Int64: LeaseState] = [:]
    private var nextLeaseID: Int64 = 0x1000
    private var watchers: [UUID: Watcher] = [:]
    /// Watches that ``attach`` has seen, until their stream terminates.
    private var attached: Set<UUID> = []
    /// Watches whose stream terminated before ``attach`` ran.
    private var abandoned: Set<UUID> = []
    private var failures: [Operation: [MeshError]] = [:]
    private var unavailable: MeshError?

    /// - Parameter clock: the wall clock leases expire on; nil (the default) for a clock that
    ///   starts at 0 and moves only with ``advance(by:)``.
    public init(clock: (any WallClock)? = nil) {
        self.clock = clock
    }

    // MARK: Failure injection and time

    /// Makes the next call of `operation` throw `error` (for `.watch`: end the next watch with
    /// it). Several calls queue up, first in, first out.
    public func failNext(_ operation: Operation, with error: MeshError) {
        failures[operation, default: []].append(error)
    }

    /// Makes every call throw `.unavailable` with `message` until ``restore()``, and ends active
    /// watches with it, as when the store becomes unreachable.
    public func makeUnavailable(_ message: String = "datastore unavailable (injected)") {
        let error = MeshError(.unavailable, message)
        unavailable = error
        endWatches(with: error)
    }

    /// Undoes ``makeUnavailable(_:)``. The data is as it was.
    public func restore() {
        unavailable = nil
    }

    /// Ends every active watch with `error`; the data is untouched.
    public func endWatches(with error: MeshError = MeshError(.compacted, "watch ended: history was compacted (injected)")) {
        let ended = watchers.values.map(\.continuation)
        watchers = [:]
        for continuation in ended { continuation.finish(throwing: error) }
    }

    /// Moves lease time forward by `seconds` and reaps the leases that expired.
    public func advance(by seconds: Double) {
        offset += seconds
        reapExpired()
    }

    /// The number of watches being served.
    public var watchCount: Int { watchers.count }

    // MARK: Datastore

    public func get(_ key: String) throws -> KeyValue? {
        try enter(.get)
        try DatastoreLimits.check(key: key)
        return live[Array(key.utf8)]
    }

    public func list(prefix: String) throws -> Listing {
        try enter(.list)
        let prefixBytes = Array(prefix.utf8)
        let items = live.filter { $0.key.starts(with: prefixBytes) }
            .sorted { $0.key.lexicographicallyPrecedes($1.key) }
            .map(\.value)
        return Listing(items: items, revision: revision)
    }

    @discardableResult
    public func put(_ key: String, value: [UInt8], lease: LeaseID?) throws -> Revision {
        try enter(.put)
        return try apply(Transaction(compares: [], success: [.put(key: key, value: value, lease: lease)])).revision
    }

    @discardableResult
    public func delete(_ key: String) throws -> Bool {
        try enter(.delete)
        try DatastoreLimits.check(key: key)
        let existed = live[Array(key.utf8)] != nil
        _ = try apply(Transaction(compares: [], success: [.delete(key: key)]))
        return existed
    }

    public func commit(_ transaction: Transaction) throws -> TransactionResult {
        try enter(.commit)
        return try apply(transaction)
    }

    /// A revision of 0 or less means "from the next revision", as etcd's start revision 0 does.
    public nonisolated func watch(prefix: String, from revision: Revision) -> AsyncThrowingStream<WatchBatch, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchBatch.self, throwing: (any Error).self)
        let id = UUID()
        continuation.onTermination = { _ in Task { await self.detach(id) } }
        Task { await self.attach(id, prefix: Array(prefix.utf8), from: revision, continuation: continuation) }
        return stream
    }

    public func grantLease(ttl: Int64) throws -> Lease {
        try enter(.grantLease)
        try DatastoreLimits.check(ttl: ttl)
        nextLeaseID += 1
        leases[nextLeaseID] = LeaseState(ttl: ttl, expiresAt: now() + Double(ttl))
        return Lease(id: LeaseID(nextLeaseID), ttl: ttl)
    }

    @discardableResult
    public func keepAlive(_ lease: LeaseID) throws -> Int64 {
        try enter(.keepAlive)
        guard var state = leases[lease.rawValue] else {
            throw MeshError(.leaseNotFound, "lease \(lease) not found or expired")
        }
        state.expiresAt = now() + Double(state.ttl)
        leases[lease.rawValue] = state
        return state.ttl
    }

    public func revoke(_ lease: LeaseID) throws {
        try enter(.revoke)
        revokeNow(lease.rawValue)
    }

    /// Compacting at or below the compact revision does nothing.
    /// - Throws: `.invalidArgument` for a revision after the current one.
    public func compact(upTo target: Revision) throws {
        try enter(.compact)
        guard target <= revision else {
            throw MeshError(.invalidArgument, "cannot compact up to revision \(target): the store is at \(revision)")
        }
        guard target > compactRevision else { return }
        compactRevision = target
        history.removeAll { $0.revision < target }
    }

    public func currentRevision() throws -> Revision {
        try enter(.currentRevision)
        return revision
    }

    // MARK: Internals

    private func now() -> Double {
        (clock?.now().seconds ?? 0) + offset
    }

    /// Injected failures first, then lease expiry, as a real store would have reaped by now.
    private func enter(_ operation: Operation) throws {
        if let unavailable { throw unavailable }
        if var queued = failures[operation], !queued.isEmpty {
            let error = queued.removeFirst()
            failures[operation] = queued
            throw error
        }
        reapExpired()
    }

    private func reapExpired() {
        let now = now()
        let expired = leases.filter { $0.value.expiresAt <= now }
            .sorted { ($0.value.expiresAt, $0.key) < ($1.value.expiresAt, $1.key) }
        for (id, _) in expired {
            revokeNow(id)
        }
    }

    /// Deletes the keys currently attached to lease `id`, at one revision, and the lease.
    private func revokeNow(_ id: Int64) {
        leases[id] = nil
        let names = live.filter { $0.value.lease?.rawValue == id }.keys
            .sorted { $0.lexicographicallyPrecedes($1) }
        guard !names.isEmpty else { return }
        revision += 1
        var events: [WatchEvent] = []
        for name in names {
            live[name] = nil
            events.append(.delete(key: String(decoding: name, as: UTF8.self), revision: revision))
        }
        record(events)
    }

    private func holds(_ compare: Compare) -> Bool {
        let kv = live[Array(compare.key.utf8)]
        switch compare.condition {
        case .absent: return kv == nil
        case .present: return kv != nil
        case .modRevision(let r): return (kv?.modRevision ?? 0) == r
        case .createRevision(let r): return (kv?.createRevision ?? 0) == r
        }
    }

    /// Validates, evaluates and applies `transaction` at one new revision, or at none when it
    /// changes nothing. Nothing changes when it throws.
    private func apply(_ transaction: Transaction) throws -> TransactionResult {
        try DatastoreLimits.check(transaction)
        let succeeded = transaction.compares.allSatisfy(holds)
        let operations = succeeded ? transaction.success : transaction.failure
        let now = now()
        for case .put(_, _, let lease?) in operations {
            guard let state = leases[lease.rawValue], state.expiresAt > now else {
                throw MeshError(.leaseNotFound, "lease \(lease) not found or expired")
            }
        }
        let next = revision + 1
        var events: [WatchEvent] = []
        for operation in operations {
            switch operation {
            case .put(let key, let value, let lease):
                let name = Array(key.utf8)
                let previous = live[name]
                let kv = KeyValue(key: key, value: value, createRevision: previous?.createRevision ?? next,
                                  modRevision: next, version: (previous?.version ?? 0) + 1, lease: lease)
                live[name] = kv
                events.append(.put(kv))
            case .delete(let key):
                let name = Array(key.utf8)
                if live.removeValue(forKey: name) != nil {
                    events.append(.delete(key: key, revision: next))
                }
            }
        }
        if !events.isEmpty {
            revision = next
            record(events)
        }
        return TransactionResult(succeeded: succeeded, revision: revision)
    }

    /// Appends one revision's events to the history and hands them to the watchers.
    private func record(_ events: [WatchEvent]) {
        history.append((revision, events))
        for (id, watcher) in watchers where revision >= watcher.from {
            let matching = events.filter { Array($0.key.utf8).starts(with: watcher.prefix) }
            guard !matching.isEmpty else { continue }
            if case .terminated = watcher.continuation.yield(WatchBatch(events: matching)) {
                watchers[id] = nil
            }
        }
    }

    private func attach(_ id: UUID, prefix: [UInt8], from: Revision,
                        continuation: AsyncThrowingStream<WatchBatch, any Error>.Continuation) {
        if abandoned.remove(id) != nil { return }
        attached.insert(id)
        do {
            try enter(.watch)
        } catch {
            continuation.finish(throwing: error)
            return
        }
        let from = from > 0 ? from : revision + 1
        if from < compactRevision {
            continuation.finish(throwing: MeshError(
                .compacted, "watch from revision \(from): history before revision \(compactRevision) was compacted"))
            return
        }
        // Replay and registration happen in one actor turn, so no write falls between them.
        let replay = history.filter { $0.revision >= from }.flatMap { entry in
            entry.events.filter { Array($0.key.utf8).starts(with: prefix) }
        }
        if !replay.isEmpty {
            continuation.yield(WatchBatch(events: replay))
        }
        watchers[id] = Watcher(prefix: prefix, from: from, continuation: continuation)
    }

    /// Runs once per watch, when its stream terminates (consumer gone, or finished here).
    private func detach(_ id: UUID) {
        if attached.remove(id) != nil {
            watchers[id] = nil
        } else {
            abandoned.insert(id)
        }
    }
}
