import MeshCore

/// Fixed, recognisable test material.
enum Fixture {
    /// RFC 7748 §6.1's published example private key: public test material, never a key in use.
    static let rfc7748PrivateKeyHex = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"

    static func rfc7748PrivateKey() -> PrivateKey {
        var bytes = Hex.decode(rfc7748PrivateKeyHex)!
        return try! PrivateKey(consuming: &bytes)
    }

    /// A public key whose 32 bytes are all `byte`: its hex is `byte` repeated, easy to read in
    /// golden text.
    static func key(_ byte: UInt8) -> PublicKey { try! PublicKey(bytes: [UInt8](repeating: byte, count: 32)) }

    static func prefix(_ text: String) -> IPPrefix { try! IPPrefix(text) }
    static func endpoint(_ text: String) -> Endpoint { try! Endpoint(text) }
    static func hex(_ byte: UInt8) -> String { String(repeating: Hex.encode([byte]), count: 32) }
}
