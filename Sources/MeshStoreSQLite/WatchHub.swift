import Foundation
import GRDB
import MeshCore
import Synchronization

/// Serves every watch of one ``SQLiteDatastore`` from a single poller.
///
/// Other processes write to the same file, and SQLite tells nobody, so the poller reads the
/// revision counter every poll interval (one primary-key lookup), and at once after a local
/// write. When the counter moved it reads the new log rows and fans them out to the watchers
/// whose prefix they match.
///
/// No gaps, no duplicates: the poller alone advances ``State/position`` (the last revision handed
/// to live watchers), and it reads everything a poll needs in one read transaction, which is one
/// WAL snapshot. A new watcher starts pending; the next poll replays its history from the log up
/// to the same upper revision it delivers to live watchers, then makes it live. Because commits
/// are serialized and the counter is written in the committing transaction (see ``Schema``), a
/// snapshot that shows revision n shows every row of every revision up to n.
final class WatchHub: Sendable {
    private struct Subscriber {
        let range: KeyRange
        /// The first revision this watcher wants.
        let from: Revision
        let continuation: AsyncThrowingStream<WatchBatch, any Error>.Continuation
        var live = false
    }

    private struct State {
        var position: Revision
        /// The latest revision this instance committed itself; it may be ahead of `position`
        /// until the poller catches up.
        var committed: Revision = 0
        var nextID = 0
        var subscribers: [Int: Subscriber] = [:]
        /// Set once the poller stopped: later watches end at once with this.
        var closed: MeshError?
    }

    private struct Pending: Sendable {
        let id: Int
        let range: KeyRange
        let from: Revision
    }

    private struct Snapshot: Sendable {
        var revision: Revision
        var compacted: Revision
        var upper: Revision
        var liveRows: [LogRow]
        var replays: [Int: [LogRow]]
    }

    private typealias Continuation = AsyncThrowingStream<WatchBatch, any Error>.Continuation

    /// Bounds one poll's read, so that a watcher far behind catches up in steps.
    static let maxRevisionsPerPoll: Revision = 256
    /// A batch is split at a revision boundary once it holds this many events.
    static let maxEventsPerBatch = 1000

    private let state: Mutex<State>
    private let wakeups: AsyncStream<Void>
    private let wakeContinuation: AsyncStream<Void>.Continuation

    init(position: Revision) {
        state = Mutex(State(position: position))
        // Wake-ups coalesce: one pending wake-up is enough to make the next poll see everything.
        (wakeups, wakeContinuation) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
    }

    var subscriberCount: Int { state.withLock { $0.subscribers.count } }

    /// A watch of `prefix` from `from` (inclusive); `from <= 0` means after the latest revision
    /// this instance knows of, which includes its own writes (another process's write becomes
    /// known within a poll interval).
    func subscribe(prefix: String, from: Revision) -> AsyncThrowingStream<WatchBatch, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchBatch.self, throwing: (any Error).self)
        let registered: Result<Int, MeshError> = state.withLock { state in
            if let closed = state.closed { return .failure(closed) }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = Subscriber(range: KeyRange(prefix: prefix),
                                               from: from > 0 ? from : max(state.position, state.committed) + 1,
                                               continuation: continuation)
            return .success(id)
        }
        switch registered {
        case .failure(let error):
            continuation.finish(throwing: error)
        case .success(let id):
            continuation.onTermination = { [weak self] _ in self?.remove(id) }
            wake()
        }
        return stream
    }

    /// Makes the poller poll now (for a new watcher's replay).
    func wake() {
        wakeContinuation.yield()
    }

    /// Notes a local commit at `revision` and makes the poller deliver it now.
    func committed(_ revision: Revision) {
        state.withLock { $0.committed = max($0.committed, revision) }
        wakeContinuation.yield()
    }

    /// The poller. Returns when the calling task is cancelled, ending every watch.
    func run(storage: Storage, every interval: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { [wakeContinuation] in
                while !Task.isCancelled {
                    try? await Task.sleep(for: interval)
                    wakeContinuation.yield()
                }
            }
            group.addTask { [wakeups] in
                for await _ in wakeups {
                    await self.poll(storage)
                }
            }
            await group.waitForAll()
        }
        close(with: MeshError(.unavailable, "datastore \(storage.path) was closed"))
    }

    /// Ends every watch, now and from now on, with `error`.
    func close(with error: MeshError) {
        let ended = state.withLock { state in
            state.closed = state.closed ?? error
            defer { state.subscribers = [:] }
            return state.subscribers.values.map(\.continuation)
        }
        for continuation in ended { continuation.finish(throwing: error) }
    }

    private func remove(_ id: Int) {
        _ = state.withLock { $0.subscribers.removeValue(forKey: id) }
    }

    private func poll(_ storage: Storage) async {
        do {
            while try await pollOnce(storage) {}
        } catch is CancellationError {
            // The datastore is closing; `run` ends every watch next.
        } catch {
            // The database could not be read (the file was removed, the disk failed). Watchers
            // cannot know what they missed, so each ends and its owner re-lists and re-watches.
            let error = error as? MeshError ?? MeshError(.unavailable, "\(storage.path): \(error)")
            let ended = state.withLock { state in
                defer { state.subscribers = [:] }
                return state.subscribers.values.map(\.continuation)
            }
            for continuation in ended { continuation.finish(throwing: error) }
        }
    }

    /// One poll. Returns true when more revisions are waiting beyond this poll's bound.
    private func pollOnce(_ storage: Storage) async throws -> Bool {
        let (position, pending, hasLive) = state.withLock { state in
            (state.position,
             state.subscribers.filter { !$0.value.live }.map { Pending(id: $0.key, range: $0.value.range, from: $0.value.from) },
             state.subscribers.values.contains(where: \.live))
        }
        let snapshot = try await storage.read { db in
            let revision = try LogStore.revision(db)
            let compacted = try LogStore.compactRevision(db)
            let upper = min(revision, position + Self.maxRevisionsPerPoll)
            let liveRows = hasLive ? try LogStore.rows(db, from: position + 1, through: upper, in: nil) : []
            var replays: [Int: [LogRow]] = [:]
            for watcher in pending where watcher.from >= compacted {
                replays[watcher.id] = try LogStore.rows(db, from: watcher.from, through: upper, in: watcher.range)
            }
            return Snapshot(revision: revision, compacted: compacted, upper: upper, liveRows: liveRows, replays: replays)
        }

        var deliveries: [(id: Int, continuation: Continuation, batches: [WatchBatch])] = []
        var failures: [(Continuation, MeshError)] = []
        state.withLock { state in
            // Live watchers need every row after `position`. Compaction deletes rows below the
            // compact revision, so if it passed `position + 1` some of those may be gone.
            let liveLost = position + 1 < snapshot.compacted
            for (id, subscriber) in state.subscribers where subscriber.live {
                if liveLost {
                    state.subscribers[id] = nil
                    failures.append((subscriber.continuation,
                                     Self.compactedError(from: position + 1, compacted: snapshot.compacted)))
                    continue
                }
                let batches = Self.batches(snapshot.liveRows, range: subscriber.range, from: subscriber.from)
                if !batches.isEmpty { deliveries.append((id, subscriber.continuation, batches)) }
            }
            for watcher in pending {
                guard let subscriber = state.subscribers[watcher.id], !subscriber.live else { continue }
                guard let rows = snapshot.replays[watcher.id] else {
                    state.subscribers[watcher.id] = nil
                    failures.append((subscriber.continuation,
                                     Self.compactedError(from: watcher.from, compacted: snapshot.compacted)))
                    continue
                }
                state.subscribers[watcher.id]?.live = true
                let batches = Self.batches(rows, range: nil, from: watcher.from)
                if !batches.isEmpty { deliveries.append((watcher.id, subscriber.continuation, batches)) }
            }
            state.position = snapshot.upper
        }

        // Yield and finish outside the lock: a stream may run its onTermination handler, which
        // takes the lock, from inside these calls.
        for (continuation, error) in failures {
            continuation.finish(throwing: error)
        }
        for delivery in deliveries {
            for batch in delivery.batches {
                if case .terminated = delivery.continuation.yield(batch) {
                    remove(delivery.id)
                    break
                }
            }
        }
        return snapshot.upper < snapshot.revision
    }

    private static func compactedError(from: Revision, compacted: Revision) -> MeshError {
        MeshError(.compacted, "watch from revision \(from): history before revision \(compacted) was compacted")
    }

    /// `rows` as batches, keeping those in `range` (nil: all) at or after `from`. A batch never
    /// splits a revision.
    private static func batches(_ rows: [LogRow], range: KeyRange?, from: Revision) -> [WatchBatch] {
        var batches: [WatchBatch] = []
        var events: [WatchEvent] = []
        for row in rows where row.revision >= from && range?.contains(row.name) ?? true {
            if events.count >= maxEventsPerBatch, let last = events.last, last.revision != row.revision {
                batches.append(WatchBatch(events: events))
                events = []
            }
            events.append(row.event)
        }
        if !events.isEmpty { batches.append(WatchBatch(events: events)) }
        return batches
    }
}
