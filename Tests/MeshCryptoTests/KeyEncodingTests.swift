import MeshCore
import MeshCrypto
import Testing

@Suite struct KeyEncodingTests {
    @Test func base64RoundTrips() throws {
        let key = KeyGeneration.generatePrivateKey()
        let decoded = try KeyEncoding.withBase64(of: key) { text in
            #expect(text.count == 44)
            #expect(text[43] == UInt8(ascii: "="))
            return try KeyEncoding.decodePrivateKey(base64: text)
        }
        #expect(decoded == key)
    }

    @Test(arguments: [
        // Both are 44 characters long: only the decoded length tells them from a key.
        ("31 bytes", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHw=="),
        ("33 bytes", "AQIDBAUGBwgJCgsMDQ4PEBESExQVFhcYGRobHB0eHyAh"),
        ("all zeros", String(repeating: "A", count: 43) + "="),
        ("not base64", String(repeating: "*", count: 43) + "="),
        ("43 characters", String(repeating: "C", count: 42) + "="),
        ("URL-safe alphabet", String(repeating: "_", count: 43) + "="),
        ("bad padding bits", String(repeating: "A", count: 42) + "B="),
    ])
    func rejectsMalformedText(_ label: String, _ text: String) throws {
        let bytes = Array(text.utf8)
        let error = try bytes.withUnsafeBytes { raw in
            try #require(throws: MeshError.self, "\(label)") { try KeyEncoding.decodePrivateKey(base64: raw) }
        }
        #expect(error.code == .invalidKey)
        #expect(!error.message.contains(text), "the error repeated the input")
    }
}
