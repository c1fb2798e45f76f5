public import MeshCore

/// A ``Datastore`` whose watches deliver each batch `lag` late, as a loaded etcd or a slow
/// consumer does; every other call goes straight to `inner`. For tests of callers that must not
/// depend on seeing their own writes come back promptly.
public struct LaggingWatches: Datastore {
    public let inner: any Datastore
    public let lag: Duration

    public init(_ inner: any Datastore, lag: Duration) {
        self.inner = inner
        self.lag = lag
    }

    public func watch(prefix: String, from revision: Revision) -> AsyncThrowingStream<WatchBatch, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: WatchBatch.self, throwing: (any Error).self)
        let (inner, lag) = (inner, lag)
        let relay = Task {
            do {
                for try await batch in inner.watch(prefix: prefix, from: revision) {
                    try await Task.sleep(for: lag)
                    continuation.yield(batch)
                }
                continuation.finish()
            } catch {
                continuation.finish(throwing: error)
            }
        }
        continuation.onTermination = { _ in relay.cancel() }
        return stream
    }

    public func get(_ key: String) async throws -> KeyValue? { try await inner.get(key) }
    public func list(prefix: String) async throws -> Listing { try await inner.list(prefix: prefix) }
    public func put(_ key: String, value: [UInt8], lease: LeaseID?) async throws -> Revision {
        try await inner.put(key, value: value, lease: lease)
    }
    public func delete(_ key: String) async throws -> Bool { try await inner.delete(key) }
    public func commit(_ transaction: Transaction) async throws -> TransactionResult { try await inner.commit(transaction) }
    public func grantLease(ttl: Int64) async throws -> Lease { try await inner.grantLease(ttl: ttl) }
    public func keepAlive(_ lease: LeaseID) async throws -> Int64 { try await inner.keepAlive(lease) }
    public func revoke(_ lease: LeaseID) async throws { try await inner.revoke(lease) }
    public func compact(upTo revision: Revision) async throws { try await inner.compact(upTo: revision) }
    public func currentRevision() async throws -> Revision { try await inner.currentRevision() }
}
