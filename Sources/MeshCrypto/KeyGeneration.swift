import CSodium
import MeshCore

/// Creates WireGuard key pairs with libsodium.
public enum KeyGeneration {
    /// Returns a fresh private key: 32 bytes from libsodium's CSPRNG, clamped as X25519
    /// requires (and as `wg genkey` does), so the device reports back exactly these bytes and
    /// the planner sees no spurious "private key changed". Never fails.
    public static func generatePrivateKey() -> PrivateKey {
        requireSodium()
        var bytes = [UInt8](repeating: 0, count: PrivateKey.byteCount)
        defer { wipe(&bytes) }
        bytes.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        bytes[0] &= 248
        bytes[31] = (bytes[31] & 127) | 64
        do {
            return try PrivateKey(consuming: &bytes)
        } catch {
            // Clamping sets bit 254, so the key cannot be all zeros: this is unreachable.
            preconditionFailure("a clamped key was rejected: \(error)")
        }
    }

    /// Derives the public key: X25519(private, basepoint), what `wg pubkey` prints.
    /// libsodium clamps the scalar itself, so an unclamped key from a hand-written key file gives
    /// the same result as `wg pubkey` for it. Never fails.
    public static func publicKey(for privateKey: PrivateKey) -> PublicKey {
        requireSodium()
        var out = [UInt8](repeating: 0, count: PublicKey.byteCount)
        let rc = privateKey.withUnsafeBytes { secret in
            out.withUnsafeMutableBytes { pub in
                crypto_scalarmult_curve25519_base(
                    pub.baseAddress!.assumingMemoryBound(to: UInt8.self),
                    secret.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        }
        // libsodium refuses only an all-zero result, impossible for a clamped non-zero scalar
        // times the base point (the base point has prime order).
        precondition(rc == 0, "crypto_scalarmult_curve25519_base failed")
        do {
            return try PublicKey(bytes: out)
        } catch {
            preconditionFailure("a derived public key was rejected: \(error)")
        }
    }
}

/// Random secrets that are not WireGuard keys (datastore passwords).
public enum RandomSecret {
    /// `bytes` random bytes from libsodium, as URL-safe base64 without padding (shell- and
    /// YAML-safe: letters, digits, '-' and '_').
    public static func token(bytes: Int = 24) -> String {
        requireSodium()
        var raw = [UInt8](repeating: 0, count: bytes)
        defer { wipe(&raw) }
        raw.withUnsafeMutableBytes { randombytes_buf($0.baseAddress!, $0.count) }
        let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
        var out: [UInt8] = []
        var bits = 0, value = 0
        for byte in raw {
            value = (value << 8) | Int(byte)
            bits += 8
            while bits >= 6 {
                bits -= 6
                out.append(alphabet[(value >> bits) & 63])
            }
        }
        if bits > 0 { out.append(alphabet[(value << (6 - bits)) & 63]) }
        return String(decoding: out, as: UTF8.self)
    }
}
