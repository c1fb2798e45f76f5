public import MeshCore
import Glibc

extension PublicKey {
    /// A readable, distinct test key: "key1" → bytes "key1" padded with 0x01.
    public static func fixture(_ name: String) -> PublicKey {
        var bytes = Array(name.utf8.prefix(32))
        bytes += Array(repeating: 1, count: 32 - bytes.count)
        return try! PublicKey(bytes: bytes)
    }
}

extension PrivateKey {
    /// A deterministic test private key (not a secret: for fakes only).
    public static func fixture(_ seed: UInt8) -> PrivateKey {
        var bytes = Array(repeating: seed, count: 32)
        bytes[0] &= 248
        bytes[31] = (bytes[31] & 127) | 64
        return try! PrivateKey(consuming: &bytes)
    }
}

extension IPPrefix {
    /// Parses or traps: for literals in tests.
    public static func must(_ text: String) -> IPPrefix { try! IPPrefix(text) }
}

extension IPAddress {
    public static func must(_ text: String) -> IPAddress { try! IPAddress(text) }
}

extension NodeName {
    public static func must(_ text: String) -> NodeName { try! NodeName(text) }
}

/// A wall clock that stands still unless moved.
public final class FixedWallClock: WallClock, @unchecked Sendable {
    private let lock = Mutex()
    private var current: Timestamp
    public init(_ seconds: Double = 1_700_000_000) { current = Timestamp(seconds: seconds) }
    public func now() -> Timestamp { lock.withLock { current } }
    public func advance(by seconds: Double) { lock.withLock { current.seconds += seconds } }
}

/// A tiny lock so the test kit needs nothing beyond the standard library and Foundation.
final class Mutex: @unchecked Sendable {
    private var flag = pthread_mutex_t()
    init() { pthread_mutex_init(&flag, nil) }
    deinit { pthread_mutex_destroy(&flag) }
    func withLock<R>(_ body: () throws -> R) rethrows -> R {
        pthread_mutex_lock(&flag)
        defer { pthread_mutex_unlock(&flag) }
        return try body()
    }
}
