import Glibc
import MeshCore
import MeshKernel
import MeshTestKit
import Netlink
import Testing

@Suite("Encoding SET_DEVICE: splitting as wg(8) does")
struct EncodeSetDeviceSplitTests {
    /// A full-mesh-sized patch: every peer with an endpoint, a keepalive and one /32.
    static func bigPatch(peers: Int) -> DevicePatch {
        DevicePatch(privateKey: .fixture(3), listenPort: 51820, fwmark: 0x2000, replacePeers: true, peers: (0..<peers).map { n in
            PeerPatch(publicKey: numberedKey(n), endpoint: Endpoint(address: .v4(0xC000_0200 | UInt32(n & 0xff)), port: 51820),
                      persistentKeepalive: 25, allowedIPs: [hostPrefix(n)])
        })
    }

    /// Joins the peer elements of consecutive messages back into one list per patch entry: a
    /// fragment continues the previous entry when it is the first element of its message and
    /// has the same key as the last element of the message before.
    static func reassemble(_ messages: [[UInt8]]) throws -> [SentPeer] {
        var joined: [SentPeer] = []
        for message in messages {
            for (i, peer) in try sentPeers(message).enumerated() {
                if i == 0, let last = joined.last, last.key == peer.key, !peer.hasEndpoint, !peer.hasKeepalive,
                   peer.flags & 2 == 0, peer.flags & 1 == 0 {
                    joined[joined.count - 1].allowedIPs += peer.allowedIPs
                    joined[joined.count - 1].allNested = last.allNested && peer.allNested
                } else {
                    joined.append(peer)
                }
            }
        }
        return joined
    }

    @Test func fiveThousandPeersFillMessagesInOrder() throws {
        let patch = Self.bigPatch(peers: 5_000)
        let bufferSize = 4096
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: bufferSize)

        #expect(messages.allSatisfy { $0.count <= bufferSize })
        // One peer costs 4 + 36 (key) + 20 (endpoint) + 8 (keepalive) + 32 (one IPv4) = 100
        // bytes: some 40 peers a message, not one (wgctrl-go's batching) and not all.
        #expect((120...130).contains(messages.count), "got \(messages.count) messages")

        let first = try setAttributes(messages[0])
        #expect(first.contains(A.privateKey) && first.contains(A.listenPort) && first.contains(A.fwmark))
        #expect(try first.u32(A.deviceFlags) == 1, "REPLACE_PEERS in the first message")
        for message in messages.dropFirst() {
            let types = try setAttributes(message).all.map(\.type)
            #expect(types == [A.ifname, A.peers], "later messages carry only the name and peers")
        }

        let sent = try Self.reassemble(messages)
        #expect(sent.map(\.key) == patch.peers.map(\.publicKey), "every peer once, in patch order")
        #expect(sent.map(\.allowedIPs) == patch.peers.map(\.allowedIPs))
        #expect(sent.allSatisfy { $0.allNested && $0.hasEndpoint && $0.hasKeepalive })

        // Packed as tightly as wg(8) packs: each message but the last had no room for another peer.
        for message in messages.dropLast() {
            #expect(message.count > bufferSize - 100, "a message of \(message.count) bytes had room for more")
        }
    }

    @Test func defaultBufferIsThePageSizedOne() throws {
        let messages = try encodeSetDevice(Self.bigPatch(peers: 500), interface: "wg0", familyID: testFamilyID)
        // libmnl's MNL_SOCKET_BUFFER_SIZE, what wg(8) uses: the page size, at most 8 KiB.
        #expect(NetlinkRequest.socketBufferSize == min(Int(sysconf(Int32(_SC_PAGESIZE))), 8192))
        #expect(messages.count > 1)
        #expect(messages.allSatisfy { $0.count <= NetlinkRequest.socketBufferSize })
    }

    @Test func twoThousandAllowedIPsContinueWithoutReplacing() throws {
        let ips = (0..<2_000).map { hostPrefix($0) }
        let patch = DevicePatch(peers: [
            PeerPatch(publicKey: numberedKey(1), endpoint: try Endpoint("192.0.2.1:51820"), persistentKeepalive: 25,
                      replaceAllowedIPs: true, allowedIPs: ips),
            PeerPatch(publicKey: numberedKey(2), allowedIPs: [.must("10.99.0.0/16")]),
        ])
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: 4096)
        #expect(messages.allSatisfy { $0.count <= 4096 })
        #expect(messages.count >= 14, "2,000 × 28 bytes of allowed IPs need 14 pages or more")

        let fragments = try messages.map { try sentPeers($0) }
        let first = try #require(fragments.first?.first)
        #expect(first.flags == 2 && first.hasEndpoint && first.hasKeepalive, "the first fragment replaces and sets the endpoint")
        for message in fragments.dropFirst() {
            let head = try #require(message.first)
            guard head.key == numberedKey(1) else { continue }
            #expect(head.flags == 0 && !head.hasEndpoint && !head.hasKeepalive,
                    "a continuation carries only the key and more allowed IPs, never REPLACE_ALLOWEDIPS")
        }
        let sent = try Self.reassemble(messages)
        #expect(sent.map(\.key) == [numberedKey(1), numberedKey(2)])
        #expect(sent.first?.allowedIPs == ips, "every prefix once, in order")
        #expect(sent.allSatisfy { $0.allNested })
    }

    @Test func continuationsKeepUpdateOnly() throws {
        // If the peer is gone, a continuation without UPDATE_ONLY would create it with the tail
        // of its prefixes only. With the flag it does nothing, like the first fragment.
        let ips = (0..<600).map { hostPrefix($0) }
        let patch = DevicePatch(peers: [PeerPatch(publicKey: numberedKey(1), updateOnly: true, allowedIPs: ips)])
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: 4096)
        #expect(messages.count == 5)
        for message in messages {
            let peers = try sentPeers(message)
            #expect(peers.count == 1)
            #expect(peers.first?.flags == 4, "UPDATE_ONLY in every fragment")
        }
        var model = KernelModel(name: "wg0")
        for message in messages { try model.apply(message) }
        #expect(model.peers.isEmpty, "no fragment created the peer that was only to be updated")
    }

    @Test func mixedPeersAcrossTinyMessagesReassembleExactly() throws {
        var generator = SeededGenerator(seed: 0x5EED)
        var peers: [PeerPatch] = []
        for n in 0..<60 {
            let count = Int.random(in: 0...40, using: &generator)
            let ips = (0..<count).map { i in
                i % 3 == 0 ? try! IPPrefix(address: .v6(0xFD00_0000_0000_0000_0000_0000_0000_0000 | UInt128(n) << 64 | UInt128(i) << 16), length: 112)
                           : hostPrefix(n * 100 + i)
            }
            let v6 = Bool.random(using: &generator)
            peers.append(PeerPatch(publicKey: numberedKey(n), remove: n % 11 == 5, updateOnly: n % 7 == 3,
                                   endpoint: v6 ? Endpoint(address: .v6(0x2001_0DB8 << 96 | UInt128(n)), port: 51820) : nil,
                                   persistentKeepalive: n % 2 == 0 ? 25 : nil, replaceAllowedIPs: n % 5 == 0, allowedIPs: ips))
        }
        let patch = DevicePatch(listenPort: 1, peers: peers)
        for bufferSize in [400, 600, 1000, 4096] {
            let messages = try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: bufferSize)
            #expect(messages.allSatisfy { $0.count <= bufferSize })
            let sent = try Self.reassemble(messages)
            #expect(sent.map(\.key) == peers.map(\.publicKey), "buffer \(bufferSize)")
            #expect(sent.map(\.allowedIPs) == peers.map { $0.remove ? [] : $0.allowedIPs }, "buffer \(bufferSize)")
            #expect(sent.map(\.flags) == peers.map { ($0.remove ? 1 : 0) | ($0.updateOnly ? 4 : 0) | ($0.replaceAllowedIPs && !$0.remove ? 2 : 0) })
            #expect(sent.allSatisfy { $0.allNested })
        }
    }

    @Test(.timeLimit(.minutes(1)))
    func peerThatCannotFitAnEmptyMessageIsAnErrorNotALoop() throws {
        // 20 (headers) + 8 (IFNAME) + 4 (PEERS) + 4 (peer) + 36 (key) = 72: a key fits, the
        // endpoint after it does not.
        let patch = DevicePatch(peers: [PeerPatch(publicKey: numberedKey(1), endpoint: try Endpoint("192.0.2.1:1"))])
        let error = try #require(throws: MeshError.self) {
            try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: 80)
        }
        #expect(error.code == .invalidArgument)
        #expect(error.message.contains("does not fit"))
    }

    @Test(.timeLimit(.minutes(1)))
    func continuationThatCannotFitOneAllowedIPIsAnErrorNotALoop() throws {
        // The first message holds the key and an empty ALLOWEDIPS list (progress: the head is
        // sent); a continuation of key + list + one 28-byte IP needs 104 bytes and gets 100.
        let patch = DevicePatch(peers: [PeerPatch(publicKey: numberedKey(1), allowedIPs: [hostPrefix(1), hostPrefix(2)])])
        let error = try #require(throws: MeshError.self) {
            try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: 100)
        }
        #expect(error.code == .invalidArgument)
        // One byte more and it goes through, one prefix per message.
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: 104)
        #expect(messages.count == 2)
        #expect(try Self.reassemble(messages).first?.allowedIPs == [hostPrefix(1), hostPrefix(2)])
    }

    @Test func deviceAttributesThatDoNotFitAreAnError() throws {
        let patch = DevicePatch(privateKey: .fixture(1))
        let error = try #require(throws: MeshError.self) {
            try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: 40)
        }
        #expect(error.code == .invalidArgument)
        #expect(!error.message.contains("PrivateKey"), "no key material or key description in errors")
    }

    @Test func firstPeerMayMoveToTheSecondMessageBehindDeviceAttributes() throws {
        // 28 + 36 (private key) leaves 36 of 100 bytes: not enough for peer + key (44), so
        // message 1 has the device attributes and message 2 the peer.
        let patch = DevicePatch(privateKey: .fixture(2), peers: [PeerPatch(publicKey: numberedKey(1))])
        let messages = try encodeSetDevice(patch, interface: "wg0", familyID: testFamilyID, bufferSize: 100)
        #expect(messages.count == 2)
        #expect(try setAttributes(messages[0]).contains(A.privateKey))
        #expect(try sentPeers(messages[0]).isEmpty)
        #expect(try sentPeers(messages[1]).map(\.key) == [numberedKey(1)])
        #expect(try !setAttributes(messages[1]).contains(A.privateKey))
    }

    @Test func neverSendsPerPrefixFlags() throws {
        let messages = try encodeSetDevice(Self.bigPatch(peers: 50), interface: "wg0", familyID: testFamilyID, bufferSize: 1024)
        for message in messages {
            guard let peers = try setAttributes(message)[A.peers] else { continue }
            for peer in try NetlinkAttributes(parsing: peers.payload).all {
                guard let list = try NetlinkAttributes(parsing: peer.payload)[A.allowedIPs] else { continue }
                for entry in try NetlinkAttributes(parsing: list.payload).all {
                    #expect(try !NetlinkAttributes(parsing: entry.payload).contains(A.ipFlags))
                }
            }
        }
    }
}
