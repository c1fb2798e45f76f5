/// A WireGuard (Curve25519) public key: 32 bytes, shown as 44 characters of base64.
///
/// Public keys are not secret; they appear in records, logs and status. ``fingerprint`` is the
/// short form used on screen.
public struct PublicKey: Hashable, Comparable, Sendable, CustomStringConvertible {
    public static let byteCount = 32

    /// The 32 raw bytes.
    public let bytes: [UInt8]

    /// Hashes the 32 bytes in one call: the synthesized hash fed them to the hasher one byte at
    /// a time, and agents hash every peer's key on every pass (hashing was about
    /// 5 % of a 300-agent benchmark's CPU samples).
    public func hash(into hasher: inout Hasher) {
        bytes.withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    public static func == (a: PublicKey, b: PublicKey) -> Bool { a.bytes == b.bytes }

    /// Wraps 32 raw bytes. Throws for any other length or for an all-zero key, which WireGuard
    /// treats as "no key".
    public init(bytes: [UInt8]) throws(MeshError) {
        guard bytes.count == Self.byteCount else {
            throw MeshError(.invalidKey, "a WireGuard key is 32 bytes; this one has \(bytes.count)")
        }
        guard bytes.contains(where: { $0 != 0 }) else {
            throw MeshError(.invalidKey, "the key is all zeros")
        }
        self.bytes = bytes
    }

    /// Parses the 44-character base64 form (`wg pubkey` output).
    public init(base64 text: String) throws(MeshError) {
        guard let decoded = Base64.decode(text) else {
            let shown = text.count > 60 ? String(text.prefix(60)) + "…" : text
            throw MeshError(.invalidKey, "'\(shown)' is not valid base64")
        }
        guard decoded.count == Self.byteCount else {
            throw MeshError(.invalidKey, "a WireGuard key is 32 bytes; '\(text.prefix(60))' decodes to \(decoded.count)")
        }
        try self.init(bytes: decoded)
    }

    /// Parses the 64-character lowercase hex form used by the UAPI.
    public init(hex text: some StringProtocol) throws(MeshError) {
        guard let decoded = Hex.decode(text), decoded.count == Self.byteCount else {
            throw MeshError(.invalidKey, "'\(text.prefix(70))' is not 64 hex digits")
        }
        try self.init(bytes: decoded)
    }

    public var base64: String { Base64.encode(bytes) }
    public var hex: String { Hex.encode(bytes) }
    /// The first 8 characters of the base64 form, enough to tell keys apart on screen.
    public var fingerprint: String { String(base64.prefix(8)) }
    public var description: String { base64 }

    public static func < (a: PublicKey, b: PublicKey) -> Bool { a.bytes.lexicographicallyPrecedes(b.bytes) }
}
