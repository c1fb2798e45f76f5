import MeshCore
import MeshTestKit
import Testing

@Suite struct AddressParsing {
    @Test(arguments: [
        ("10.244.1.0", "10.244.1.0"), ("0.0.0.0", "0.0.0.0"), ("255.255.255.255", "255.255.255.255"),
        ("2001:db8::1", "2001:db8::1"), ("::", "::"), ("::1", "::1"),
        ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"), ("fe80::1:0:0:1", "fe80::1:0:0:1"),
        ("2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"), ("::ffff:192.0.2.1", "::ffff:c000:201"),
    ])
    func roundTrips(input: String, canonical: String) throws {
        #expect(try IPAddress(input).description == canonical)
    }

    @Test(arguments: ["", "10.1.1", "10.1.1.256", "010.1.1.1", "1.2.3.4.5", "1.2.3.-4", "::1::2", "12345::",
                      "1:2:3:4:5:6:7:8:9", "g::1", "10.0.0.1/24", " 10.0.0.1"])
    func rejects(input: String) {
        #expect(throws: MeshError.self) { try IPAddress(input) }
    }

    @Test func prefixes() throws {
        let p = try IPPrefix("10.244.0.0/16")
        #expect(p.contains(try IPPrefix("10.244.3.0/24")))
        #expect(!p.contains(try IPPrefix("10.245.0.0/24")))
        #expect(try IPPrefix("10.244.3.0/24").overlaps(p))
        #expect(!(try IPPrefix("10.244.3.0/24").overlaps(try IPPrefix("10.244.4.0/24"))))
        #expect(try IPPrefix("0.0.0.0/0").isDefaultRoute)
        #expect(try IPPrefix("2001:db8::/32").contains(try IPAddress("2001:db8:1::5")))
        #expect(!(try IPPrefix("2001:db8::/32").contains(try IPAddress("10.0.0.1"))))
        #expect(p.address(at: 1) == .must("10.244.0.1"))
    }

    @Test(arguments: [
        ("10.244.1.5/24", "host bits set"), ("10.244.1.0", "not a CIDR"), ("10.244.1.0/33", "out of range"),
        ("10.244.1.0/x", "no valid prefix length"), ("banana/24", "not a CIDR"),
    ])
    func rejectsPrefix(input: String, reason: String) {
        #expect { try IPPrefix(input) } throws: { error in
            (error as? MeshError)?.message.contains(reason) == true
        }
    }

    @Test func endpoints() throws {
        #expect(try Endpoint("192.168.77.11:51830").description == "192.168.77.11:51830")
        #expect(try Endpoint("[2001:db8::1]:51820").port == 51820)
        #expect(throws: MeshError.self) { try Endpoint("192.168.77.11") }
        #expect(throws: MeshError.self) { try Endpoint("192.168.77.11:0") }
        #expect(throws: MeshError.self) { try Endpoint("192.168.77.11:70000") }
        #expect(throws: MeshError.self) { try Endpoint("2001:db8::1:51820") }
    }

    @Test(arguments: ["n1", "node-a.example.com", "a"])
    func nodeNames(name: String) throws { _ = try NodeName(name) }

    @Test(arguments: ["", "N1", "-n1", "n1-", "n/1", "n 1", String(repeating: "a", count: 254)])
    func badNodeNames(name: String) { #expect(throws: MeshError.self) { try NodeName(name) } }
}

@Suite struct Keys {
    @Test func base64RoundTrip() throws {
        let key = PublicKey.fixture("key1")
        #expect(key.base64.count == 44)
        #expect(try PublicKey(base64: key.base64) == key)
        #expect(try PublicKey(hex: key.hex) == key)
        #expect(key.fingerprint == String(key.base64.prefix(8)))
    }

    @Test func knownVector() throws {
        // `wg pubkey` output shape: 32 bytes, base64 with one '=' of padding.
        let key = try PublicKey(base64: "5GyFRB2urFtEofZTXlmh3l520dLhFE5jpfHp/nTvH38=")
        #expect(key.bytes.count == 32)
        #expect(key.bytes[0] == 0xE4)
    }

    @Test(arguments: [
        ("not base64!", "not valid base64"),
        (Base64.encode(Array(repeating: UInt8(7), count: 31)), "decodes to 31"),
        (Base64.encode(Array(repeating: UInt8(7), count: 33)), "decodes to 33"),
        (Base64.encode(Array(repeating: UInt8(0), count: 32)), "all zeros"),
        ("", "decodes to 0"),
    ])
    func badKeys(text: String, reason: String) {
        #expect { try PublicKey(base64: text) } throws: { error in
            (error as? MeshError)?.message.contains(reason) == true && (error as? MeshError)?.code == .invalidKey
        }
    }

    @Test func privateKeyIsRedactedAndConsumed() throws {
        var bytes = Array(repeating: UInt8(0x42), count: 32)
        let key = try PrivateKey(consuming: &bytes)
        #expect(bytes.allSatisfy { $0 == 0 })
        #expect("\(key)" == "PrivateKey(redacted)")
        #expect(String(reflecting: key) == "PrivateKey(redacted)")
        #expect(key == PrivateKey.fixture(0x42) || key != PrivateKey.fixture(0x42))  // compiles: Equatable
        var zeros = Array(repeating: UInt8(0), count: 32)
        #expect(throws: MeshError.self) { try PrivateKey(consuming: &zeros) }
        var short = Array(repeating: UInt8(1), count: 31)
        #expect(throws: MeshError.self) { try PrivateKey(consuming: &short) }
    }

    @Test func base64Decoder() {
        #expect(Base64.decode("aGVsbG8=") == Array("hello".utf8))
        #expect(Base64.decode("aGVsbG8") == nil)
        #expect(Base64.decode("aGV=bG8=") == nil)
        #expect(Base64.decode("aGVsbA==") == Array("hell".utf8))
        #expect(Base64.encode(Array("hell".utf8)) == "aGVsbA==")
    }
}
