import Foundation
import MeshCore
import MeshUserspace
import Testing

@Suite struct DecodeGetTests {
    /// Captured from Debian's wireguard-go 0.0.20220316 (`get=1` over its socket) after a
    /// handshake over IPv6 between two namespaces. Only the private key line was replaced, by
    /// the RFC 7748 test vector, so that no real key sits in the repository.
    static let captured = """
        private_key=\(Fixture.rfc7748PrivateKeyHex)
        listen_port=51820
        fwmark=4660
        public_key=4be4aa1c578bac642178b5d3e0c9d5b45d587c9029fa28fea6373433d6de4c6c
        preshared_key=0000000000000000000000000000000000000000000000000000000000000000
        protocol_version=1
        endpoint=[fd00:99::2]:51821
        last_handshake_time_sec=1795619095
        last_handshake_time_nsec=322824405
        tx_bytes=840
        rx_bytes=604
        persistent_keepalive_interval=25
        allowed_ip=10.99.0.2/32
        allowed_ip=10.98.0.0/24
        allowed_ip=fd00:98::/64
        errno=0


        """

    @Test func capturedReply() throws {
        let state = try UAPI.decodeGet(Array(Self.captured.utf8), name: "mgxe0")
        #expect(state.name == "mgxe0")
        #expect(state.privateKey == Fixture.rfc7748PrivateKey())
        #expect(state.listenPort == 51820)
        #expect(state.fwmark == 0x1234)
        #expect(state.peers.count == 1)
        let peer = try #require(state.peers.first)
        #expect(peer.publicKey.base64 == "S+SqHFeLrGQheLXT4MnVtF1YfJAp+ij+pjc0M9beTGw=")
        #expect(peer.endpoint == Fixture.endpoint("[fd00:99::2]:51821"))
        #expect(peer.allowedIPs == ["10.98.0.0/24", "10.99.0.2/32", "fd00:98::/64"].map(Fixture.prefix))
        #expect(peer.persistentKeepalive == 25)
        #expect(peer.txBytes == 840)
        #expect(peer.rxBytes == 604)
        let handshake = try #require(peer.lastHandshake)
        #expect(abs(handshake.seconds - 1_795_619_095.322824405) < 1e-6)
    }

    /// The shape wireguard-go gives a fresh device and peers that never completed a handshake:
    /// no private key, no fwmark, a peer without endpoint, zero handshake time.
    @Test func freshDeviceAndPeersWithoutHandshake() throws {
        let reply = """
            listen_port=33399
            public_key=\(Fixture.hex(0xaa))
            preshared_key=0000000000000000000000000000000000000000000000000000000000000000
            protocol_version=1
            endpoint=192.0.2.7:51820
            last_handshake_time_sec=0
            last_handshake_time_nsec=0
            tx_bytes=0
            rx_bytes=0
            persistent_keepalive_interval=0
            allowed_ip=10.0.0.0/8
            public_key=\(Fixture.hex(0xbb))
            preshared_key=0000000000000000000000000000000000000000000000000000000000000000
            protocol_version=1
            last_handshake_time_sec=0
            last_handshake_time_nsec=0
            tx_bytes=0
            rx_bytes=0
            persistent_keepalive_interval=0
            errno=0


            """
        let state = try UAPI.decodeGet(Array(reply.utf8), name: "wg0")
        #expect(state == DeviceState(name: "wg0", privateKey: nil, listenPort: 33399, fwmark: 0, peers: [
            PeerState(publicKey: Fixture.key(0xaa), endpoint: Fixture.endpoint("192.0.2.7:51820"),
                      allowedIPs: [Fixture.prefix("10.0.0.0/8")]),
            PeerState(publicKey: Fixture.key(0xbb), endpoint: nil, allowedIPs: []),
        ]))
        #expect(try UAPI.decodeGet(Array("errno=0\n\n".utf8), name: "wg0")
                == DeviceState(name: "wg0", privateKey: nil, listenPort: 0, fwmark: 0, peers: []))
    }

    /// Keys this version does not know are skipped wherever they appear, so that a newer
    /// wireguard-go reporting more fields still decodes.
    @Test func unknownKeysAreIgnored() throws {
        let withExtras = Self.captured
            .replacingOccurrences(of: "listen_port=51820\n", with: "listen_port=51820\nfuture_device_field=yes\n")
            .replacingOccurrences(of: "tx_bytes=840\n", with: "tx_bytes=840\nfuture_peer_field=1,2,3\n")
        #expect(withExtras != Self.captured)
        #expect(try UAPI.decodeGet(Array(withExtras.utf8), name: "mgxe0")
                == UAPI.decodeGet(Array(Self.captured.utf8), name: "mgxe0"))
    }

    @Test(arguments: [
        ("empty", ""),
        ("truncated before errno", "listen_port=51820\n"),
        ("ends mid-line", "listen_port=51820\nerrno=0"),
        ("no blank line", "listen_port=51820\nerrno=0\n"),
        ("data after the end", "errno=0\n\nlisten_port=1\n"),
        ("blank line before errno", "listen_port=1\n\nerrno=0\n\n"),
        ("not key=value", "listen_port\nerrno=0\n\n"),
        ("port not a number", "listen_port=abc\nerrno=0\n\n"),
        ("port out of range", "listen_port=65536\nerrno=0\n\n"),
        ("negative fwmark", "fwmark=-1\nerrno=0\n\n"),
        ("bad public key", "public_key=xyz\nerrno=0\n\n"),
        ("peer field before any peer", "endpoint=192.0.2.1:1\nerrno=0\n\n"),
        ("bad endpoint", "public_key=\(Fixture.hex(0xaa))\nendpoint=192.0.2.1\nerrno=0\n\n"),
        ("allowed ip with host bits", "public_key=\(Fixture.hex(0xaa))\nallowed_ip=10.0.0.1/24\nerrno=0\n\n"),
        ("bad counter", "public_key=\(Fixture.hex(0xaa))\nrx_bytes=1e3\nerrno=0\n\n"),
        ("errno not a number", "errno=x\n\n"),
    ])
    func malformedRepliesAreErrors(_ label: String, _ reply: String) {
        let error = #expect(throws: MeshError.self, "\(label)") { try UAPI.decodeGet(Array(reply.utf8), name: "wg0") }
        #expect(error?.code == .backendFailure)
        #expect(error?.message.contains("malformed") == true, "\(label): \(error?.message ?? "")")
    }

    @Test func badPrivateKeyIsAnErrorThatDoesNotEchoIt() {
        let almost = String(Fixture.rfc7748PrivateKeyHex.dropLast()) + "g"
        for value in [almost, String(Fixture.rfc7748PrivateKeyHex.dropLast(2))] {
            let error = #expect(throws: MeshError.self) {
                try UAPI.decodeGet(Array("private_key=\(value)\nerrno=0\n\n".utf8), name: "wg0")
            }
            #expect(error?.description.contains(String(value.prefix(12))) == false)
        }
    }

    @Test func errnoInAGetReplyIsABackendFailure() {
        let error = #expect(throws: MeshError.self) { try UAPI.decodeGet(Array("errno=-5\n\n".utf8), name: "wg0") }
        #expect(error?.code == .backendFailure)
        #expect(error?.errno == 5)
    }

    /// Whatever arrives on the socket, decoding returns or throws; it never traps.
    @Test func arbitraryInputNeverCrashes() {
        let pieces = ["private_key=", "public_key=", Fixture.hex(0xab), "listen_port=", "65535", "fwmark=",
                      "endpoint=", "[::1]:1", "allowed_ip=", "10.0.0.0/8", "errno=", "-22", "0", "=", "\n", "\n",
                      "last_handshake_time_sec=", "99999999999999999999", "é", "\u{0}"]
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<2000 {
            let count = Int.random(in: 0..<24, using: &generator)
            let text = (0..<count).map { _ in pieces.randomElement(using: &generator)! }.joined()
            _ = try? UAPI.decodeGet(Array(text.utf8), name: "wg0")
            _ = try? UAPI.decodeSetReply(Array(text.utf8))
        }
    }
}
