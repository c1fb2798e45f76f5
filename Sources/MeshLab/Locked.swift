import Foundation

/// A value behind a lock, so the lab's reference types can be `Sendable`.
///
/// Foundation's `NSLock` rather than the `Synchronization` module keeps MeshLab to the imports
/// it is allowed (MeshCore, Foundation, Glibc). Never hold the lock across a blocking call that
/// could take long (a child's exit, a network wait): callers copy what they need out first.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value

    init(_ value: Value) { self.value = value }

    func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }

    var current: Value { withLock { $0 } }
}
