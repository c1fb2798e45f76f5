import Dispatch

/// Runs blocking socket work on a Dispatch thread, off Swift's cooperative pool. That pool has
/// as many threads as cores (two on a small node); a wireguard-go that hangs until the I/O
/// timeout would otherwise hold one of them and stall every other task of the agent.
func blocking<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global(qos: .userInitiated).async {
            continuation.resume(with: Result { try body() })
        }
    }
}
