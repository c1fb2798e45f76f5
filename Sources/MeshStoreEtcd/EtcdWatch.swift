import EtcdAPI
import Foundation
import GRPCCore
import MeshCore
import SwiftProtobuf
import Synchronization

/// A prefix watch on etcd's `Watch` stream that survives a dropped stream.
///
/// It remembers the revision after the last one it delivered (or after the header revision
/// of a progress notification: etcd promises every later event a higher revision) and, when
/// the stream fails, opens a new one from there: on another member when the first is gone,
/// so a leader change or a restarted member loses and repeats nothing. When no new stream can
/// be had for ``EtcdConfiguration/watchResumeWindow``, the stream ends with `.unavailable`.
/// A start revision that etcd has compacted ends it with `.compacted` at once (etcd's rule:
/// never retry the same start revision).
struct EtcdWatch: Sendable {
    let connection: EtcdConnection
    let prefix: String
    let from: Revision

    func stream() -> AsyncThrowingStream<WatchBatch, any Error> {
        AsyncThrowingStream { continuation in
            let task = Task { await run(continuation) }
            continuation.onTermination = { _ in task.cancel() }
        }
    }

    /// The next revision to ask for; 0 until known when the caller asked for "now".
    private final class Cursor: Sendable {
        let next: Atomic<Int64>
        let created = Atomic<Bool>(false)
        init(_ start: Int64) { next = Atomic(max(start, 0)) }
    }

    private func run(_ continuation: AsyncThrowingStream<WatchBatch, any Error>.Continuation) async {
        let configuration = connection.configuration
        let cursor = Cursor(from)
        let key = Array(prefix.utf8)
        let watch = Etcdserverpb_Watch.Client(wrapping: connection.client)
        var failingSince: ContinuousClock.Instant?
        var delay = Duration.milliseconds(50)
        var lastError: (any Error)?
        while !Task.isCancelled {
            cursor.created.store(false, ordering: .relaxed)
            do {
                let metadata = try await connection.streamMetadata()
                try await watch.watch(metadata: metadata) { writer in
                    try await writer.write(.with {
                        $0.createRequest = .with {
                            $0.key = Data(key.isEmpty ? [0] : key)
                            $0.rangeEnd = Data(prefixRangeEnd(key))
                            $0.startRevision = cursor.next.load(ordering: .relaxed)
                            $0.progressNotify = true
                        }
                    })
                    // The request side stays open for as long as the watch lives; the RPC
                    // cancels this when the response side ends.
                    while true { try await Task.sleep(for: .seconds(3600)) }
                } onResponse: { response in
                    for try await message in response.messages {
                        try Self.handle(message, cursor: cursor, continuation: continuation, endpoints: configuration.endpointList)
                    }
                }
                lastError = MeshError(.unavailable, "etcd \(configuration.endpointList): the watch stream ended")
            } catch let error as MeshError where error.code == .compacted || error.code == .permissionDenied {
                continuation.finish(throwing: error)
                return
            } catch is CancellationError {
                break
            } catch let error as RPCError where error.code == .unauthenticated {
                await connection.invalidateToken()
                lastError = error
            } catch {
                if Task.isCancelled { break }
                lastError = error
            }
            // The stream dropped. A stream that got as far as "created" was healthy: the
            // resume window starts now.
            let now = ContinuousClock.now
            if cursor.created.load(ordering: .relaxed) {
                failingSince = now
                delay = .milliseconds(50)
            }
            let since = failingSince ?? now
            failingSince = since
            if now - since >= configuration.watchResumeWindow {
                let reason = lastError.map { "\(translateEtcdError($0, while: "watching \(prefix)", endpoints: configuration.endpointList))" } ?? "no stream"
                continuation.finish(throwing: MeshError(.unavailable, "etcd \(configuration.endpointList): watch of \(prefix) lost and not resumed within \(configuration.watchResumeWindow): \(reason)"))
                return
            }
            try? await Task.sleep(for: delay)
            delay = min(delay * 2, .milliseconds(500))
        }
        continuation.finish()
    }

    private static func handle(_ message: Etcdserverpb_WatchResponse, cursor: Cursor,
                               continuation: AsyncThrowingStream<WatchBatch, any Error>.Continuation, endpoints: String) throws {
        if message.compactRevision != 0 {
            throw MeshError(.compacted, "etcd \(endpoints): history before revision \(message.compactRevision) has been compacted")
        }
        if message.canceled {
            let reason = message.cancelReason.isEmpty ? "the watch was cancelled by etcd" : message.cancelReason
            if reason.contains("permission denied") {
                throw MeshError(.permissionDenied, "etcd \(endpoints): watch refused: \(reason)")
            }
            throw RPCError(code: .unavailable, message: reason)
        }
        if message.created {
            cursor.created.store(true, ordering: .relaxed)
            // A watch "from now" learns here which revision now was, so that a resume
            // continues from it instead of from a later "now".
            if cursor.next.load(ordering: .relaxed) == 0 {
                cursor.next.store(message.header.revision + 1, ordering: .relaxed)
            }
        }
        if message.events.isEmpty {
            if !message.created && message.header.revision > 0 {
                // A progress notification: every later event has a higher revision.
                let next = message.header.revision + 1
                if next > cursor.next.load(ordering: .relaxed) { cursor.next.store(next, ordering: .relaxed) }
            }
            return
        }
        let events = message.events.map(decodeEvent)
        continuation.yield(WatchBatch(events: events))
        cursor.next.store(events[events.count - 1].revision + 1, ordering: .relaxed)
    }
}
