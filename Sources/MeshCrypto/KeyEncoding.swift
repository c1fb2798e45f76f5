import CSodium
import MeshCore

/// The text form of private keys: 44 characters of standard padded base64, as written by
/// `wg genkey`. Encoding and decoding use libsodium's constant-time routines, and every buffer
/// that held key text is zeroed before it is released. Nothing here returns a `String`: a
/// Swift string cannot be wiped.
public enum KeyEncoding {
    /// Characters in a base64 WireGuard key (32 bytes, one `=` of padding).
    public static let base64Length = 44

    /// Calls `body` with the key's base64 text (44 ASCII bytes, no newline). The bytes are
    /// zeroed when `body` returns; they must not escape it.
    public static func withBase64<R>(of key: PrivateKey,
                                     _ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        requireSodium()
        // sodium_base64_encoded_len(32, ORIGINAL) is 45: it counts the terminating NUL.
        let text = UnsafeMutableRawBufferPointer.allocate(byteCount: base64Length + 1, alignment: 1)
        defer {
            wipe(text)
            text.deallocate()
        }
        key.withUnsafeBytes { raw in
            _ = sodium_bin2base64(text.baseAddress!.assumingMemoryBound(to: CChar.self), text.count,
                                  raw.baseAddress!.assumingMemoryBound(to: UInt8.self), raw.count,
                                  sodium_base64_VARIANT_ORIGINAL)
        }
        return try body(UnsafeRawBufferPointer(rebasing: text[0..<base64Length]))
    }

    /// Decodes exactly one key: 44 base64 characters that decode to 32 bytes, nothing before
    /// or after. Throws `.invalidKey` otherwise; the message never repeats the input.
    public static func decodePrivateKey(base64 text: UnsafeRawBufferPointer) throws(MeshError) -> PrivateKey {
        requireSodium()
        guard text.count == base64Length else {
            throw MeshError(.invalidKey, "a private key is \(base64Length) base64 characters; got \(text.count)")
        }
        // One spare byte: a 33-byte key also fits in 44 characters and must be seen as too long.
        var bytes = [UInt8](repeating: 0, count: PrivateKey.byteCount + 1)
        defer { wipe(&bytes) }
        var decodedLength = 0
        var end: UnsafePointer<CChar>? = nil
        let rc = bytes.withUnsafeMutableBytes { out in
            sodium_base642bin(out.baseAddress!.assumingMemoryBound(to: UInt8.self), out.count,
                              text.baseAddress!.assumingMemoryBound(to: CChar.self), text.count,
                              nil, &decodedLength, &end, sodium_base64_VARIANT_ORIGINAL)
        }
        let consumedAll = end.map { UnsafeRawPointer($0) == text.baseAddress! + text.count } ?? false
        guard rc == 0, consumedAll else {
            throw MeshError(.invalidKey, "the private key is not valid base64")
        }
        guard decodedLength == PrivateKey.byteCount else {
            throw MeshError(.invalidKey, "a private key is 32 bytes; this one decodes to \(decodedLength)")
        }
        var key = Array(bytes[0..<PrivateKey.byteCount])
        return try PrivateKey(consuming: &key)
    }
}
