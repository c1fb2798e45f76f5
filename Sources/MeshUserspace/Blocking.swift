import Dispatch

/// Runs blocking socket work on a Dispatch thread, off Swift's cooperative pool. That pool has
/// as many threads as cores (two on a small node); a wireguard-go that hangs until the I/O
/// timeout would otherwise hold one of them and stall every other task of the agent.
///
/// A serial queue of its own per call, not `DispatchQueue.global()`: on Linux the global
/// concurrent queues are not "overcommit" and keep about one thread per core, adding more only
/// when a monitor notices blocked threads, about once a second. Calls that block for their
/// whole I/O timeout then queue behind each other for seconds. A private serial queue targets
/// the overcommit pool, which starts a thread whenever none is idle.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue(label: "meshguard.userspace.blocking").async {
            continuation.resume(with: Result { try body() })
        }
    }
}
