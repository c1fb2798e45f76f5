/// A WireGuard private key. The bytes live in one heap buffer that is zeroed when the last
/// copy of the key goes away; `description` and `debugDescription` are redacted, so a key that
/// reaches a log line or an error message prints as `PrivateKey(redacted)`.
///
/// The core only holds, compares and hands out keys. Generating them and reading the key file
/// is the crypto adapter's job (libsodium).
public struct PrivateKey: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible {
    public static let byteCount = 32
    private let storage: SecretBuffer

    /// Takes ownership of `bytes`: they are copied into the key's buffer and the array passed in
    /// is overwritten with zeros. Throws for a wrong length or an all-zero key.
    public init(consuming bytes: inout [UInt8]) throws(MeshError) {
        defer { for i in bytes.indices { bytes[i] = 0 } }
        guard bytes.count == Self.byteCount else {
            throw MeshError(.invalidKey, "a WireGuard private key is 32 bytes; got \(bytes.count)")
        }
        var any: UInt8 = 0
        for b in bytes { any |= b }
        guard any != 0 else { throw MeshError(.invalidKey, "the private key is all zeros") }
        storage = SecretBuffer(copying: bytes)
    }

    /// Calls `body` with the raw key bytes. The bytes must not escape the closure.
    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try storage.withUnsafeBytes(body)
    }

    /// Constant-time comparison.
    public static func == (a: PrivateKey, b: PrivateKey) -> Bool {
        a.withUnsafeBytes { x in
            b.withUnsafeBytes { y in
                var diff: UInt8 = 0
                for i in 0..<byteCount { diff |= x[i] ^ y[i] }
                return diff == 0
            }
        }
    }

    public var description: String { "PrivateKey(redacted)" }
    public var debugDescription: String { "PrivateKey(redacted)" }
}

/// Owns secret bytes; writes zeros over them on deinit.
final class SecretBuffer: @unchecked Sendable {
    // Immutable after init; readers only. That is what makes the unchecked Sendable sound.
    private let pointer: UnsafeMutableRawBufferPointer

    init(copying bytes: [UInt8]) {
        pointer = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 16)
        pointer.copyBytes(from: bytes)
    }

    func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try body(UnsafeRawBufferPointer(pointer))
    }

    deinit {
        // A store through a pointer the optimizer cannot see the end of is not elided.
        for i in 0..<pointer.count { pointer.storeBytes(of: 0, toByteOffset: i, as: UInt8.self) }
        pointer.deallocate()
    }
}
