import MeshCore
import MeshKernel
import MeshTestKit
import Testing

// Golden WG_CMD_SET_DEVICE messages, written out by hand from <linux/wireguard.h> and
// <linux/netlink.h>, laid out as wg(8)'s kernel_set_device lays them out. Integers are host
// order (little-endian here) except the endpoint's port and addresses, which are network
// order. Sequence and port id are 0: the socket stamps the sequence. 0x22 is the family id
// these tests pretend the controller handed out.
//
// Bytes captured from wg(8) talking to a real kernel go in CapturedFromKernelTests.swift.

@Suite("Encoding SET_DEVICE: golden bytes")
struct EncodeSetDeviceGoldenTests {
    static let peerA = PublicKey.fixture("peer-a")
    /// "peer-a" padded with 0x01: the 32 bytes of WGPEER_A_PUBLIC_KEY for ``peerA``.
    static let peerABytes: [UInt8] = [0x70, 0x65, 0x65, 0x72, 0x2D, 0x61] + [UInt8](repeating: 0x01, count: 26)

    /// nlmsghdr with `length`, the family id, NLM_F_REQUEST | NLM_F_ACK; genlmsghdr for SET v1;
    /// WGDEVICE_A_IFNAME "wg0".
    static func head(length: UInt8) -> [UInt8] {
        [
            length, 0x00, 0x00, 0x00,  // nlmsg_len
            0x22, 0x00,                // nlmsg_type = the family id
            0x05, 0x00,                // nlmsg_flags = NLM_F_REQUEST 0x1 | NLM_F_ACK 0x4
            0x00, 0x00, 0x00, 0x00,    // nlmsg_seq (stamped by the socket)
            0x00, 0x00, 0x00, 0x00,    // nlmsg_pid
            0x01,                      // genlmsghdr.cmd = WG_CMD_SET_DEVICE
            0x01,                      // genlmsghdr.version = WG_GENL_VERSION
            0x00, 0x00,                // genlmsghdr.reserved
            0x08, 0x00, 0x02, 0x00,    // nla_len 8, WGDEVICE_A_IFNAME (2)
            0x77, 0x67, 0x30, 0x00,    //   "wg0\0"
        ]
    }

    @Test func onePeerWithEndpointKeepaliveAndAllowedIPs() throws {
        let patch = DevicePatch(peers: [PeerPatch(
            publicKey: Self.peerA, endpoint: try Endpoint("192.0.2.1:51820"), persistentKeepalive: 25,
            allowedIPs: [.must("10.244.1.0/24"), .must("fd00:244:1::/64"),
            ])])
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: 0x22)
        let expected: [UInt8] = Self.head(length: 172) + [
            0x90, 0x00, 0x08, 0x80,    // nla_len 144, WGDEVICE_A_PEERS (8) | NLA_F_NESTED
            0x8C, 0x00, 0x00, 0x80,    //   nla_len 140, peer (type 0, unused) | NLA_F_NESTED
            0x24, 0x00, 0x01, 0x00,    //     nla_len 36, WGPEER_A_PUBLIC_KEY (1)
        ] + Self.peerABytes + [
            0x14, 0x00, 0x04, 0x00,    //     nla_len 20, WGPEER_A_ENDPOINT (4): struct sockaddr_in
            0x02, 0x00,                //       sin_family = AF_INET, host order
            0xCA, 0x6C,                //       sin_port = 51820, network order
            0xC0, 0x00, 0x02, 0x01,    //       sin_addr = 192.0.2.1
            0x00, 0x00, 0x00, 0x00,    //       sin_zero
            0x00, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x05, 0x00,    //     nla_len 6, WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL (5)
            0x19, 0x00, 0x00, 0x00,    //       25 seconds, 2 bytes of padding
                                       //     (no WGPEER_A_FLAGS: none apply)
            0x48, 0x00, 0x09, 0x80,    //     nla_len 72, WGPEER_A_ALLOWEDIPS (9) | NLA_F_NESTED
            0x1C, 0x00, 0x00, 0x80,    //       nla_len 28, entry | NLA_F_NESTED
            0x06, 0x00, 0x01, 0x00,    //         nla_len 6, WGALLOWEDIP_A_FAMILY (1)
            0x02, 0x00, 0x00, 0x00,    //           AF_INET, padding
            0x08, 0x00, 0x02, 0x00,    //         nla_len 8, WGALLOWEDIP_A_IPADDR (2)
            0x0A, 0xF4, 0x01, 0x00,    //           10.244.1.0
            0x05, 0x00, 0x03, 0x00,    //         nla_len 5, WGALLOWEDIP_A_CIDR_MASK (3)
            0x18, 0x00, 0x00, 0x00,    //           24, padding
            0x28, 0x00, 0x00, 0x80,    //       nla_len 40, entry | NLA_F_NESTED
            0x06, 0x00, 0x01, 0x00,    //         WGALLOWEDIP_A_FAMILY
            0x0A, 0x00, 0x00, 0x00,    //           AF_INET6 (10), padding
            0x14, 0x00, 0x02, 0x00,    //         nla_len 20, WGALLOWEDIP_A_IPADDR
            0xFD, 0x00, 0x02, 0x44,    //           fd00:244:1::
            0x00, 0x01, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,
            0x05, 0x00, 0x03, 0x00,    //         WGALLOWEDIP_A_CIDR_MASK
            0x40, 0x00, 0x00, 0x00,    //           64, padding
        ]
        #expect(messages == [expected])
    }

    @Test func deviceAttributesOnly() throws {
        let patch = DevicePatch(privateKey: .fixture(7), listenPort: 51820, fwmark: 0x2000, replacePeers: true)
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: 0x22)
        let expected: [UInt8] = Self.head(length: 88) + [
            0x24, 0x00, 0x03, 0x00,    // nla_len 36, WGDEVICE_A_PRIVATE_KEY (3)
            0x00,                      //   PrivateKey.fixture(7): 7s, clamped: byte 0 & 248,
        ] + [UInt8](repeating: 0x07, count: 30) + [
            0x47,                      //   byte 31 & 127 | 64
            0x06, 0x00, 0x06, 0x00,    // nla_len 6, WGDEVICE_A_LISTEN_PORT (6)
            0x6C, 0xCA, 0x00, 0x00,    //   51820, host order (not a sockaddr), padding
            0x08, 0x00, 0x07, 0x00,    // nla_len 8, WGDEVICE_A_FWMARK (7)
            0x00, 0x20, 0x00, 0x00,    //   0x2000
            0x08, 0x00, 0x05, 0x00,    // nla_len 8, WGDEVICE_A_FLAGS (5)
            0x01, 0x00, 0x00, 0x00,    //   WGDEVICE_F_REPLACE_PEERS
                                       // no WGDEVICE_A_PEERS: wg(8) omits it without peers
        ]
        #expect(messages == [expected])
    }

    @Test func removalSendsOnlyKeyAndFlag() throws {
        // A removal ignores every other field of the PeerPatch, even when they are set.
        let removal = PeerPatch(publicKey: Self.peerA, remove: true, endpoint: try Endpoint("192.0.2.1:1"),
                                persistentKeepalive: 5, replaceAllowedIPs: true, allowedIPs: [.must("10.1.0.0/16")])
        let messages = try encodeSetDevice(DevicePatch(peers: [removal]), interface: "wg0", familyID: 0x22)
        let expected: [UInt8] = Self.head(length: 80) + [
            0x34, 0x00, 0x08, 0x80,    // nla_len 52, WGDEVICE_A_PEERS | NLA_F_NESTED
            0x30, 0x00, 0x00, 0x80,    //   nla_len 48, peer | NLA_F_NESTED
            0x24, 0x00, 0x01, 0x00,    //     WGPEER_A_PUBLIC_KEY
        ] + Self.peerABytes + [
            0x08, 0x00, 0x03, 0x00,    //     nla_len 8, WGPEER_A_FLAGS (3)
            0x01, 0x00, 0x00, 0x00,    //       WGPEER_F_REMOVE_ME
        ]
        #expect(messages == [expected])
        #expect(messages == (try encodeSetDevice(DevicePatch(peers: [.removal(of: Self.peerA)]), interface: "wg0", familyID: 0x22)))
    }

    @Test func updateOnlyAddsPrefixesWithTheFlag() throws {
        let patch = DevicePatch(peers: [PeerPatch(publicKey: Self.peerA, updateOnly: true, allowedIPs: [.must("10.244.9.0/24")])])
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: 0x22)
        let expected: [UInt8] = Self.head(length: 112) + [
            0x54, 0x00, 0x08, 0x80,    // nla_len 84, WGDEVICE_A_PEERS | NLA_F_NESTED
            0x50, 0x00, 0x00, 0x80,    //   nla_len 80, peer | NLA_F_NESTED
            0x24, 0x00, 0x01, 0x00,    //     WGPEER_A_PUBLIC_KEY
        ] + Self.peerABytes + [
            0x08, 0x00, 0x03, 0x00,    //     WGPEER_A_FLAGS
            0x04, 0x00, 0x00, 0x00,    //       WGPEER_F_UPDATE_ONLY
            0x20, 0x00, 0x09, 0x80,    //     nla_len 32, WGPEER_A_ALLOWEDIPS | NLA_F_NESTED
            0x1C, 0x00, 0x00, 0x80,    //       nla_len 28, entry | NLA_F_NESTED
            0x06, 0x00, 0x01, 0x00,    //         WGALLOWEDIP_A_FAMILY
            0x02, 0x00, 0x00, 0x00,    //           AF_INET
            0x08, 0x00, 0x02, 0x00,    //         WGALLOWEDIP_A_IPADDR
            0x0A, 0xF4, 0x09, 0x00,    //           10.244.9.0
            0x05, 0x00, 0x03, 0x00,    //         WGALLOWEDIP_A_CIDR_MASK
            0x18, 0x00, 0x00, 0x00,    //           24
        ]
        #expect(messages == [expected])
    }

    @Test func replaceAllowedIPsFlagAndIPv6Endpoint() throws {
        let patch = DevicePatch(peers: [PeerPatch(publicKey: Self.peerA, endpoint: try Endpoint("[2001:db8::1]:51820"),
                                                  replaceAllowedIPs: true)])
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: 0x22)
        let expected: [UInt8] = Self.head(length: 112) + [
            0x54, 0x00, 0x08, 0x80,    // nla_len 84, WGDEVICE_A_PEERS | NLA_F_NESTED
            0x50, 0x00, 0x00, 0x80,    //   nla_len 80, peer | NLA_F_NESTED
            0x24, 0x00, 0x01, 0x00,    //     WGPEER_A_PUBLIC_KEY
        ] + Self.peerABytes + [
            0x20, 0x00, 0x04, 0x00,    //     nla_len 32, WGPEER_A_ENDPOINT: struct sockaddr_in6
            0x0A, 0x00,                //       sin6_family = AF_INET6, host order
            0xCA, 0x6C,                //       sin6_port = 51820, network order
            0x00, 0x00, 0x00, 0x00,    //       sin6_flowinfo
            0x20, 0x01, 0x0D, 0xB8,    //       sin6_addr = 2001:db8::1
            0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x00,
            0x00, 0x00, 0x00, 0x01,
            0x00, 0x00, 0x00, 0x00,    //       sin6_scope_id
            0x08, 0x00, 0x03, 0x00,    //     WGPEER_A_FLAGS
            0x02, 0x00, 0x00, 0x00,    //       WGPEER_F_REPLACE_ALLOWEDIPS, with no list: clears them
        ]
        #expect(messages == [expected])
    }

    @Test func placeholderSequenceFromThePlanner() throws {
        // The planner removes one prefix of a peer by handing it to the placeholder peer and
        // removing the placeholder: the same key twice, in this order, in one message.
        let key = PrivateKey.fixture(1)
        let observed = DeviceState(name: "wg0", privateKey: key, listenPort: 51820, fwmark: 0x2000, peers: [
            PeerState(publicKey: Self.peerA, endpoint: nil, allowedIPs: [.must("10.244.1.0/25"), .must("10.244.1.128/25")]),
        ])
        let desired = DeviceConfig(privateKey: key, listenPort: 51820, fwmark: 0x2000, peers: [
            PeerConfig(publicKey: Self.peerA, endpoint: nil, allowedIPs: [.must("10.244.1.0/25")]),
        ])
        let patch = plan(desired: desired, observed: observed, options: PlanOptions(removeUnknownPeers: true))
        try #require(patch.peers == [PeerPatch(publicKey: placeholderPeerKey, allowedIPs: [.must("10.244.1.128/25")]),
                                     .removal(of: placeholderPeerKey)])
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: 0x22)
        let placeholder = Array("meshguard-placeholder-peer-key!!".utf8)
        let expected: [UInt8] = Self.head(length: 152) + [
            0x7C, 0x00, 0x08, 0x80,    // nla_len 124, WGDEVICE_A_PEERS | NLA_F_NESTED
            0x48, 0x00, 0x00, 0x80,    //   nla_len 72, peer | NLA_F_NESTED: the placeholder takes the prefix
            0x24, 0x00, 0x01, 0x00,    //     WGPEER_A_PUBLIC_KEY
        ] + placeholder + [
            0x20, 0x00, 0x09, 0x80,    //     nla_len 32, WGPEER_A_ALLOWEDIPS | NLA_F_NESTED
            0x1C, 0x00, 0x00, 0x80,    //       entry
            0x06, 0x00, 0x01, 0x00,    //         WGALLOWEDIP_A_FAMILY
            0x02, 0x00, 0x00, 0x00,    //           AF_INET
            0x08, 0x00, 0x02, 0x00,    //         WGALLOWEDIP_A_IPADDR
            0x0A, 0xF4, 0x01, 0x80,    //           10.244.1.128
            0x05, 0x00, 0x03, 0x00,    //         WGALLOWEDIP_A_CIDR_MASK
            0x19, 0x00, 0x00, 0x00,    //           25
            0x30, 0x00, 0x00, 0x80,    //   nla_len 48, peer | NLA_F_NESTED: then it goes, prefix and all
            0x24, 0x00, 0x01, 0x00,    //     WGPEER_A_PUBLIC_KEY
        ] + placeholder + [
            0x08, 0x00, 0x03, 0x00,    //     WGPEER_A_FLAGS
            0x01, 0x00, 0x00, 0x00,    //       WGPEER_F_REMOVE_ME
        ]
        #expect(messages == [expected])
    }

    @Test func getDeviceRequest() throws {
        let request = try encodeGetDevice(interface: "wg0", familyID: 0x22)
        #expect(request == [
            0x1C, 0x00, 0x00, 0x00,    // nlmsg_len = 28
            0x22, 0x00,                // the family id
            0x01, 0x03,                // NLM_F_REQUEST 0x1 | NLM_F_DUMP 0x300
            0x00, 0x00, 0x00, 0x00,    // seq
            0x00, 0x00, 0x00, 0x00,    // pid
            0x00, 0x01, 0x00, 0x00,    // WG_CMD_GET_DEVICE, version 1, reserved
            0x08, 0x00, 0x02, 0x00,    // WGDEVICE_A_IFNAME
            0x77, 0x67, 0x30, 0x00,    //   "wg0\0"
        ])
    }

    @Test func emptyPatchEncodesToNothing() throws {
        #expect(try encodeSetDevice(DevicePatch(), interface: "wg0", familyID: 0x22).isEmpty)
    }

    @Test(arguments: ["", "a-name-of-16byte", "wg/0", "wg 0", ".", "..", "wg:0"])
    func badInterfaceNamesAreRefused(_ name: String) {
        #expect(throws: MeshError.self) {
            try encodeSetDevice(DevicePatch(listenPort: 1), interface: name, familyID: 0x22)
        }
        #expect(throws: MeshError.self) { try encodeGetDevice(interface: name, familyID: 0x22) }
    }
}
