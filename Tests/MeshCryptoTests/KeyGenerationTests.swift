import MeshCore
import MeshCrypto
import Testing

@Suite struct KeyGenerationTests {
    @Test func generatedKeysAreClampedAndDistinct() {
        var publicKeys: Set<PublicKey> = []
        for _ in 0..<64 {
            let key = KeyGeneration.generatePrivateKey()
            key.withUnsafeBytes { bytes in
                #expect(bytes[0] & 7 == 0, "low three bits of byte 0 must be clear")
                #expect(bytes[31] & 0x80 == 0, "bit 255 must be clear")
                #expect(bytes[31] & 0x40 == 0x40, "bit 254 must be set")
            }
            publicKeys.insert(KeyGeneration.publicKey(for: key))
        }
        #expect(publicKeys.count == 64)
    }

    @Test(.enabled(if: hasWg, "needs wg(8) from wireguard-tools"))
    func publicKeyMatchesWgPubkey() throws {
        for _ in 0..<4 {
            let key = KeyGeneration.generatePrivateKey()
            #expect(try wgPubkey(of: key) == KeyGeneration.publicKey(for: key).base64)
        }
    }

    /// RFC 7748 §6.1: Alice's private key and public key. Pins the derivation to a published
    /// vector, independent of any installed tool.
    @Test func publicKeyMatchesRFC7748Vector() throws {
        var secret = Hex.decode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a")!
        let key = try PrivateKey(consuming: &secret)
        #expect(KeyGeneration.publicKey(for: key).hex
                == "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a")
    }

    @Test func descriptionIsRedacted() {
        let key = KeyGeneration.generatePrivateKey()
        let base64 = KeyEncoding.withBase64(of: key) { String(decoding: $0, as: UTF8.self) }
        for rendered in [String(describing: key), String(reflecting: key), "\(key)", "\([key])"] {
            #expect(rendered.contains("redacted"))
            #expect(!rendered.contains(base64), "a rendering leaked the key")
        }
    }
}
