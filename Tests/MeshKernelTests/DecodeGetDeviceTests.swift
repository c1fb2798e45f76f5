import MeshCore
import MeshKernel
import MeshTestKit
import Netlink
import Testing

// Hand-built GET_DEVICE dumps, shaped as wg_get_device_dump shapes them: device attributes in
// the first part, peers continuing across parts, a peer's allowed IPs continued in the next
// part under a nest holding only PUBLIC_KEY and ALLOWEDIPS, nests flagged NLA_F_NESTED.

@Suite("Decoding GET_DEVICE dumps")
struct DecodeGetDeviceTests {
    static let a = PublicKey.fixture("a-peer")
    static let b = PublicKey.fixture("b-peer")
    static let c = PublicKey.fixture("c-peer")
    static let deviceKey = PrivateKey.fixture(9)
    static var deviceKeyBytes: [UInt8] { deviceKey.withUnsafeBytes { Array($0) } }

    /// Three parts: B whole and A's first prefixes; then A's continuation and C; then a second
    /// continuation of B that is not adjacent to its first part (the kernel never sends that,
    /// but a map-based merge does not care).
    static func threePartDump(nested: Bool = true, pads: Bool = true) -> [NetlinkMessage] {
        func nest(_ type: UInt16, _ children: [[UInt8]]) -> [UInt8] { TLV.nest(type, children, nested: nested) }
        let part1 = genlMessage([
            TLV.u16(A.listenPort, 51820),
            TLV.u32(A.fwmark, 0x2000),
            TLV.u32(A.ifindex, 7),
            TLV.strz(A.ifname, "wg0"),
            TLV.attr(A.privateKey, deviceKeyBytes),
            TLV.attr(A.publicKey, [UInt8](repeating: 0x55, count: 32)),
            nest(A.peers, [
                nest(0, [
                    TLV.attr(A.peerKey, b.bytes),
                    TLV.attr(A.presharedKey, [UInt8](repeating: 0, count: 32)),
                    TLV.attr(A.handshake, le64(1_700_000_000) + le64(500_000_000)),  // __kernel_timespec
                    TLV.u16(A.keepalive, 25),
                ] + (pads ? [TLV.attr(0, [])] : []) + [  // WGPEER_A_UNSPEC pad before a u64
                    TLV.u64(A.tx, 1000),
                ] + (pads ? [TLV.attr(0, [])] : []) + [
                    TLV.u64(A.rx, 2000),
                    TLV.u32(A.protocolVersion, 1),
                    TLV.attr(A.endpoint, sockaddrIn6([0x20, 0x01, 0x0D, 0xB8] + [UInt8](repeating: 0, count: 11) + [2], port: 51820, scope: 3)),
                    nest(A.allowedIPs, [kernelAllowedIP(.must("fd00:244:2::/64")), kernelAllowedIP(.must("10.244.2.0/24"))]),
                ]),
                nest(0, [
                    TLV.attr(A.peerKey, a.bytes),
                    TLV.attr(A.presharedKey, [UInt8](repeating: 0, count: 32)),
                    TLV.attr(A.handshake, le64(0) + le64(0)),  // no handshake yet
                    TLV.u16(A.keepalive, 0),
                    TLV.u64(A.tx, 0),
                    TLV.u64(A.rx, 0),
                    TLV.u32(A.protocolVersion, 1),
                    TLV.attr(A.endpoint, sockaddrIn([192, 0, 2, 1], port: 51821)),
                    nest(A.allowedIPs, [kernelAllowedIP(.must("10.244.1.128/25"))]),
                ]),
            ]),
        ])
        let part2 = genlMessage([
            nest(A.peers, [
                nest(0, [TLV.attr(A.peerKey, a.bytes), nest(A.allowedIPs, [kernelAllowedIP(.must("10.244.1.0/25"))])]),
                nest(0, [
                    TLV.attr(A.peerKey, c.bytes),
                    TLV.attr(A.handshake, le32(1_600_000_000) + le32(0)),  // 8-byte timespec of old 32-bit kernels
                    TLV.u64(A.rx, 7),
                ]),
            ]),
        ])
        let part3 = genlMessage([
            nest(A.peers, [nest(0, [TLV.attr(A.peerKey, b.bytes), nest(A.allowedIPs, [kernelAllowedIP(.must("10.99.0.0/16"))])])]),
        ])
        return [part1, part2, part3, doneMessage()]
    }

    static let expected = DeviceState(name: "wg0", privateKey: deviceKey, listenPort: 51820, fwmark: 0x2000, peers: [
        PeerState(publicKey: a, endpoint: Endpoint(address: .must("192.0.2.1"), port: 51821),
                  allowedIPs: [.must("10.244.1.0/25"), .must("10.244.1.128/25")]),
        PeerState(publicKey: b, endpoint: Endpoint(address: .must("2001:db8::2"), port: 51820),
                  allowedIPs: [.must("10.99.0.0/16"), .must("10.244.2.0/24"), .must("fd00:244:2::/64")],
                  persistentKeepalive: 25, lastHandshake: Timestamp(seconds: 1_700_000_000.5), rxBytes: 2000, txBytes: 1000),
        PeerState(publicKey: c, endpoint: nil, allowedIPs: [], lastHandshake: Timestamp(seconds: 1_600_000_000), rxBytes: 7),
    ])

    @Test func multiPartDumpMergesFragmentsByKey() throws {
        let state = try decodeGetDevice(Self.threePartDump())
        #expect(state == Self.expected)
        #expect(state.peers.map(\.publicKey) == [Self.a, Self.b, Self.c], "sorted by key, not dump order")
    }

    @Test func nestsWithoutNLAFNestedAndWithoutPadsReadTheSame() throws {
        #expect(try decodeGetDevice(Self.threePartDump(nested: false, pads: false)) == Self.expected)
    }

    @Test func controlMessagesAreOptional() throws {
        // NetlinkSocket.dump hands over only the data messages; a captured reply has NLMSG_DONE.
        var dump = Self.threePartDump()
        dump.removeLast()
        #expect(try decodeGetDevice(dump) == Self.expected)
        // An ack (NLMSG_ERROR 0) and NLMSG_NOOP are skipped; nothing after NLMSG_DONE is read.
        let ack = NetlinkMessage(type: 2, flags: 0, sequence: 7, portID: 99, payload: le32(0))
        let noop = NetlinkMessage(type: 1, flags: 0, sequence: 7, portID: 99, payload: [])
        let garbage = genlMessage([[0xFF, 0xFF]])
        #expect(try decodeGetDevice([noop] + Self.threePartDump() + [garbage, ack]) == Self.expected)
    }

    @Test func emptyDeviceWithoutKeyOrPeers() throws {
        let state = try decodeGetDevice([genlMessage([TLV.u16(A.listenPort, 0), TLV.u32(A.fwmark, 0), TLV.u32(A.ifindex, 3),
                                                      TLV.strz(A.ifname, "mg0")]), doneMessage()])
        #expect(state == DeviceState(name: "mg0", privateKey: nil, listenPort: 0, fwmark: 0, peers: []))
        let zeroKey = try decodeGetDevice([genlMessage([TLV.strz(A.ifname, "mg0"), TLV.attr(A.privateKey, [UInt8](repeating: 0, count: 32))])])
        #expect(zeroKey.privateKey == nil, "an all-zero key means none")
    }

    @Test(arguments: [(Int32(-19), MeshError.Code.notFound), (-1, .permissionDenied), (-22, .backendFailure), (19, .notFound),
                      (-95, .backendFailure)])
    func errorInDoneIsThrown(_ error: Int32, _ code: MeshError.Code) throws {
        let thrown = try #require(throws: MeshError.self) {
            try decodeGetDevice([Self.threePartDump()[0], doneMessage(error: error)])
        }
        #expect(thrown.code == code)
        #expect(thrown.errno == Int32(error.magnitude), "the errno is kept, whatever its sign on the wire")
    }

    @Test func errorMessageIsThrown() throws {
        let refusal = NetlinkMessage(type: 2, flags: 0x100, sequence: 7, portID: 99, payload: le32(UInt32(bitPattern: -1)) + [UInt8](repeating: 0, count: 16))
        let thrown = try #require(throws: MeshError.self) { try decodeGetDevice([refusal]) }
        #expect(thrown.code == .permissionDenied)
    }

    static let malformed: [(String, [NetlinkMessage])] = [
        ("no parts", []),
        ("only NLMSG_DONE", [doneMessage()]),
        ("no IFNAME", [genlMessage([TLV.u16(A.listenPort, 1)])]),
        ("payload shorter than genlmsghdr", [NetlinkMessage(type: testFamilyID, flags: 2, sequence: 7, portID: 99, payload: [0, 1])]),
        ("another command", [genlMessage(command: 1, [TLV.strz(A.ifname, "wg0")])]),
        ("attribute past the end", [genlMessage([TLV.strz(A.ifname, "wg0"), [0x40, 0x00, 0x06, 0x00, 0x01]])]),
        ("port of 4 bytes", [genlMessage([TLV.strz(A.ifname, "wg0"), TLV.u32(A.listenPort, 1)])]),
        ("private key of 31 bytes", [genlMessage([TLV.strz(A.ifname, "wg0"), TLV.attr(A.privateKey, [UInt8](repeating: 1, count: 31))])]),
        ("peer without key", [genlMessage([TLV.strz(A.ifname, "wg0"), TLV.nest(A.peers, [TLV.nest(0, [TLV.u16(A.keepalive, 1)])])])]),
        ("peer key of 33 bytes", [genlMessage([TLV.strz(A.ifname, "wg0"), TLV.nest(A.peers, [TLV.nest(0, [TLV.attr(A.peerKey, [UInt8](repeating: 1, count: 33))])])])]),
        ("all-zero peer key", [genlMessage([TLV.strz(A.ifname, "wg0"), TLV.nest(A.peers, [TLV.nest(0, [TLV.attr(A.peerKey, [UInt8](repeating: 0, count: 32))])])])]),
        ("handshake of 12 bytes", [genlMessage([TLV.strz(A.ifname, "wg0"), TLV.nest(A.peers, [TLV.nest(0, [TLV.attr(A.peerKey, a.bytes), TLV.attr(A.handshake, [UInt8](repeating: 0, count: 12))])])])]),
        ("sockaddr_in of 20 bytes", [genlMessage([TLV.strz(A.ifname, "wg0"), TLV.nest(A.peers, [TLV.nest(0, [TLV.attr(A.peerKey, a.bytes), TLV.attr(A.endpoint, sockaddrIn([1, 2, 3, 4], port: 1) + [0, 0, 0, 0])])])])]),
        ("/33", [peerWithAllowedIP([TLV.u8(A.cidr, 33), TLV.attr(A.ipAddress, [10, 0, 0, 0]), TLV.u16(A.ipFamily, 2)])]),
        ("/129", [peerWithAllowedIP([TLV.u8(A.cidr, 129), TLV.attr(A.ipAddress, [UInt8](repeating: 0, count: 16)), TLV.u16(A.ipFamily, 10)])]),
        ("IPv4 family, 16-byte address", [peerWithAllowedIP([TLV.u8(A.cidr, 8), TLV.attr(A.ipAddress, [UInt8](repeating: 0, count: 16)), TLV.u16(A.ipFamily, 2)])]),
        ("unknown family", [peerWithAllowedIP([TLV.u8(A.cidr, 8), TLV.attr(A.ipAddress, [10, 0, 0, 0]), TLV.u16(A.ipFamily, 7)])]),
        ("no mask", [peerWithAllowedIP([TLV.attr(A.ipAddress, [10, 0, 0, 0]), TLV.u16(A.ipFamily, 2)])]),
    ]

    static func peerWithAllowedIP(_ entry: [[UInt8]]) -> NetlinkMessage {
        genlMessage([TLV.strz(A.ifname, "wg0"), TLV.nest(A.peers, [TLV.nest(0, [TLV.attr(A.peerKey, a.bytes), TLV.nest(A.allowedIPs, [TLV.nest(0, entry)])])])])
    }

    @Test(arguments: malformed)
    func malformedDumpsAreErrors(_ name: String, _ messages: [NetlinkMessage]) throws {
        let error = try #require(throws: MeshError.self, "\(name)") { try decodeGetDevice(messages) }
        #expect(error.code == .backendFailure, "\(name): \(error)")
    }

    @Test func unknownAttributesAndEndpointFamiliesAreSkipped() throws {
        let state = try decodeGetDevice([genlMessage([
            TLV.strz(A.ifname, "wg0"),
            TLV.u32(42, 1),  // a device attribute of a future kernel
            TLV.nest(A.peers, [TLV.nest(0, [
                TLV.attr(A.peerKey, Self.a.bytes),
                TLV.attr(A.endpoint, le16(0) + [UInt8](repeating: 0, count: 14)),  // AF_UNSPEC: no endpoint
                TLV.u32(77, 5),  // a peer attribute of a future kernel
                TLV.nest(A.allowedIPs, [TLV.nest(0, [TLV.u8(A.cidr, 24), TLV.attr(A.ipAddress, [10, 1, 2, 0]), TLV.u16(A.ipFamily, 2),
                                                     TLV.u32(A.ipFlags, 0)])]),
            ])]),
        ])])
        #expect(state.peers == [PeerState(publicKey: Self.a, endpoint: nil, allowedIPs: [.must("10.1.2.0/24")])])
    }

    @Test func hostBitsAreMasked() throws {
        let state = try decodeGetDevice([Self.peerWithAllowedIP([TLV.u8(A.cidr, 20), TLV.attr(A.ipAddress, [10, 1, 255, 255]), TLV.u16(A.ipFamily, 2)])])
        #expect(state.peers.first?.allowedIPs == [.must("10.1.240.0/20")])
    }

    @Test func kernelShapedDumpsOfEverySize() throws {
        // 300 peers × 20 prefixes in parts of 1 KiB, 4 KiB and 16 KiB: many continuations.
        var model = KernelModel(name: "wg0")
        model.privateKey = Self.deviceKeyBytes
        model.listenPort = 51820
        for n in 0..<300 {
            model.peers.append(KernelModel.Peer(key: numberedKey(n), endpoint: n % 2 == 0 ? sockaddrIn([10, 0, 0, UInt8(n & 0xff)], port: 51820) : nil,
                                                keepalive: 25, allowedIPs: (0..<20).map { hostPrefix(n * 20 + $0) }.reversed()))
        }
        let expected = DeviceState(name: "wg0", privateKey: Self.deviceKey, listenPort: 51820, fwmark: 0, peers: (0..<300).map { n in
            PeerState(publicKey: numberedKey(n), endpoint: n % 2 == 0 ? Endpoint(address: .v4(0x0A00_0000 | UInt32(n & 0xff)), port: 51820) : nil,
                      allowedIPs: (0..<20).map { hostPrefix(n * 20 + $0) }, persistentKeepalive: 25)
        })
        for partSize in [1024, 4096, 16384] {
            let dump = model.dump(partSize: partSize, pads: partSize == 1024)
            if partSize == 1024 {
                // More peer elements than peers: allowed-IP lists continue in later parts.
                let elements = try dump.dropLast().reduce(0) { count, part in
                    let peers = try part.attributes(afterHeaderOfSize: 4)[A.peers]
                    return count + (try peers.map { try NetlinkAttributes(parsing: $0.payload).all.count } ?? 0)
                }
                #expect(elements > 400, "\(elements) peer elements in \(dump.count) parts")
            }
            #expect(try decodeGetDevice(dump) == expected, "parts of \(partSize) bytes")
        }
    }
}

@Suite("Interrupted dumps are read again (Netlink module)")
struct InterruptedDumpTests {
    /// The kernel flags every part after a concurrent SET with NLM_F_DUMP_INTR (0x10).
    @Test func interruptedWireGuardDumpIsNoticedAndRetried() throws {
        var parts = DecodeGetDeviceTests.threePartDump()
        parts[1].flags |= 0x10
        var reader = ReplyReader(sequence: 7, portID: 99)
        for part in parts { try reader.consume(part.bytes) }
        #expect(reader.outcome == .completed, "read to its NLMSG_DONE, so the socket stays in step")
        #expect(reader.interrupted)
        #expect(reader.messages.count == 3)

        // retryingInterruptedDump (what NetlinkSocket.dump runs) throws the interrupted result
        // away and returns the next clean one.
        var attempts = 0
        let clean = DecodeGetDeviceTests.threePartDump().dropLast()
        let messages = try retryingInterruptedDump(maxAttempts: 3) { () throws(NetlinkError) in
            attempts += 1
            return DumpAttempt(messages: attempts == 1 ? Array(reader.messages) : Array(clean), interrupted: attempts == 1)
        }
        #expect(attempts == 2)
        #expect(try decodeGetDevice(messages) == DecodeGetDeviceTests.expected)

        // A device that changes on every attempt ends as an error, not a mixed view.
        let error = try #require(throws: NetlinkError.self) {
            try retryingInterruptedDump(maxAttempts: 3) { () throws(NetlinkError) in
                DumpAttempt(messages: reader.messages, interrupted: true)
            }
        }
        #expect(error.code == .dumpInterrupted)
    }
}
