import MeshCore
import MeshUserspace
import Testing

@Suite struct EncodeSetTests {
    @Test func deviceFieldsNewPeerUpdateOnlyPeerAndRemoval() {
        let patch = DevicePatch(
            privateKey: Fixture.rfc7748PrivateKey(), listenPort: 51820, fwmark: 0x1234, replacePeers: true,
            peers: [
                PeerPatch(publicKey: Fixture.key(0xaa), endpoint: Fixture.endpoint("192.0.2.1:51820"),
                          persistentKeepalive: 25,
                          allowedIPs: [Fixture.prefix("10.0.1.0/24"), Fixture.prefix("10.0.2.5/32")]),
                PeerPatch(publicKey: Fixture.key(0xbb), updateOnly: true, allowedIPs: [Fixture.prefix("10.1.0.0/16")]),
                PeerPatch(publicKey: Fixture.key(0xcc), updateOnly: true,
                          endpoint: Fixture.endpoint("[2001:db8::1]:51821"), persistentKeepalive: 0,
                          replaceAllowedIPs: true, allowedIPs: [Fixture.prefix("fd00::/64")]),
                // A removal ignores every other field.
                PeerPatch(publicKey: Fixture.key(0xdd), remove: true, endpoint: Fixture.endpoint("192.0.2.9:1"),
                          allowedIPs: [Fixture.prefix("10.9.0.0/16")]),
            ])
        let expected = """
            set=1
            private_key=\(Fixture.rfc7748PrivateKeyHex)
            listen_port=51820
            fwmark=4660
            replace_peers=true
            public_key=\(Fixture.hex(0xaa))
            endpoint=192.0.2.1:51820
            persistent_keepalive_interval=25
            allowed_ip=10.0.1.0/24
            allowed_ip=10.0.2.5/32
            public_key=\(Fixture.hex(0xbb))
            update_only=true
            allowed_ip=10.1.0.0/16
            public_key=\(Fixture.hex(0xcc))
            update_only=true
            endpoint=[2001:db8::1]:51821
            persistent_keepalive_interval=0
            replace_allowed_ips=true
            allowed_ip=fd00::/64
            public_key=\(Fixture.hex(0xdd))
            remove=true


            """
        #expect(String(decoding: UAPI.encodeSet(patch), as: UTF8.self) == expected)
    }

    @Test func fieldsLeftNilAreNotSent() {
        let patch = DevicePatch(fwmark: 0, peers: [PeerPatch(publicKey: Fixture.key(0x01))])
        #expect(String(decoding: UAPI.encodeSet(patch), as: UTF8.self) == """
            set=1
            fwmark=0
            public_key=\(Fixture.hex(0x01))


            """)
        #expect(String(decoding: UAPI.encodeSet(DevicePatch()), as: UTF8.self) == "set=1\n\n")
    }

    /// The planner's placeholder sequence, exactly as it goes on the wire: the orphaned prefix
    /// is handed to the placeholder, which is then removed, and the same key appears twice.
    @Test func placeholderSequenceFromThePlanner() {
        let a = Fixture.key(0xaa)
        let desired = DeviceConfig(privateKey: Fixture.rfc7748PrivateKey(), listenPort: 51820, fwmark: 0, peers: [
            PeerConfig(publicKey: a, endpoint: nil, allowedIPs: [Fixture.prefix("10.0.1.0/24")]),
        ])
        let observed = DeviceState(name: "wg0", privateKey: Fixture.rfc7748PrivateKey(), listenPort: 51820, fwmark: 0,
                                   peers: [PeerState(publicKey: a, endpoint: nil,
                                                     allowedIPs: [Fixture.prefix("10.0.1.0/24"), Fixture.prefix("10.0.9.0/24")])])
        let patch = plan(desired: desired, observed: observed, options: PlanOptions(removeUnknownPeers: false))
        #expect(String(decoding: UAPI.encodeSet(patch), as: UTF8.self) == """
            set=1
            public_key=\(placeholderPeerKey.hex)
            allowed_ip=10.0.9.0/24
            public_key=\(placeholderPeerKey.hex)
            remove=true


            """)
    }

    @Test func redactedRenderingHidesThePrivateKeyAndKeepsTheRest() {
        let patch = DevicePatch(privateKey: Fixture.rfc7748PrivateKey(), listenPort: 1,
                                peers: [PeerPatch(publicKey: Fixture.key(0xaa))])
        let request = UAPI.encodeSet(patch)
        #expect(String(decoding: request, as: UTF8.self).contains(Fixture.rfc7748PrivateKeyHex),
                "precondition: the raw request carries the key")
        let shown = UAPI.redacted(request)
        #expect(!shown.contains(Fixture.rfc7748PrivateKeyHex))
        #expect(!shown.contains(String(Fixture.rfc7748PrivateKeyHex.prefix(16))))
        #expect(shown == """
            set=1
            private_key=(redacted)
            listen_port=1
            public_key=\(Fixture.hex(0xaa))


            """)
        #expect(UAPI.redacted(Array("preshared_key=\(Fixture.hex(0x77))\nerrno=0\n\n".utf8))
                == "preshared_key=(redacted)\nerrno=0\n\n")
    }
}
