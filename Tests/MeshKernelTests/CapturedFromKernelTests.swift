import MeshCore
import MeshKernel
import MeshTestKit
import Netlink
import Testing

/// Reference bytes captured from wg(8) talking to a real kernel: kernel 6.1.0-56-amd64, wireguard 1.0.0, wireguard-tools v1.0.20210914 - https://git.zx2c4.com/wireguard-tools/
/// (Debian's kernel in the QEMU VM of scripts/kernel-vm.sh), on 2026-11-25, with
/// `scripts/kernel-vm.sh -q -- scripts/kernel-vm/capture-netlink.sh` (nlmon + tcpdump), which
/// does what follows.
///
/// The capture, inside the VM as root, in a scratch namespace:
///
///     ip -n cap link add wg0 type wireguard
///     ip -n cap link add nlmon0 type nlmon && ip -n cap link set nlmon0 up
///     ip netns exec cap tcpdump -i nlmon0 -w wg.pcap &
///     echo <base64 of PrivateKey.fixture(7)> > key   # AAcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHB0c=
///     ip netns exec cap wg set wg0 private-key key listen-port 51820 fwmark 0x2000 \
///         peer cGVlci1hAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE= endpoint 192.0.2.1:51820 \
///         persistent-keepalive 25 allowed-ips 10.244.1.0/24,fd00:244:1::/64
///     ip netns exec cap wg show wg0
///
/// The constants are the netlink messages from that pcap (after nlmon's 16-byte header).
/// Sequence numbers and port ids are ignored when comparing. These tests run on every machine.
enum CapturedFromKernel {
    /// wg(8)'s WG_CMD_SET_DEVICE message for the `wg set` above (one message). `wg set …
    /// allowed-ips` replaces the list, so the matching patch has `replaceAllowedIPs`.
    static let setDevice: [UInt8] = Hex.decode(
        """
        e800000020000500c420076b000000000101000008000200776730002400030000070707070707070707070707070707
        07070707070707070707070707070747060006006cca0000080007000020000098000880940000802400010070656572
        2d610101010101010101010101010101010101010101010101010101140004000200ca6cc00002010000000000000000
        06000500190000000800030002000000480009801c0000800600010002000000080002000af401000500030018000000
        28000080060001000a00000014000200fd0002440001000000000000000000000500030040000000
        """.filter { !$0.isWhitespace })!
    /// The kernel's reply to `wg show wg0` after that: every message, NLMSG_DONE included.
    static let getDeviceReply: [UInt8] = Hex.decode(
        """
        6401000020000200c420076b9e00000000010000060006006cca00000800070000200000080001000200000008000200
        776730002400030000070707070707070707070707070707070707070707070707070707070707472400040013be4fea
        eaf204c7fd3358fc9c00721881d174278128227ec674f37f7fe97b6de8000880e400008024000100706565722d610101
        010101010101010101010101010101010101010101010101240002000000000000000000000000000000000000000000
        000000000000000000000000140006000000000000000000000000000000000006000500190000000c00080000000000
        000000000c000700000000000000000008000a0001000000140004000200ca6cc0000201000000000000000048000980
        1c00008005000300180000000600010002000000080002000af40100280000800500030040000000060001000a000000
        14000200fd0002440001000000000000000000001400000003000200c420076b9e00000000000000
        """.filter { !$0.isWhitespace })!
    /// wg(8)'s WG_CMD_GET_DEVICE dump request for `wg show wg0`.
    static let getDeviceRequest: [UInt8] = Hex.decode(
        """
        1c00000020000503c420076b00000000000100000800020077673000
        """.filter { !$0.isWhitespace })!

    /// What `wg set` above asks for, as a patch.
    static let patch = DevicePatch(privateKey: .fixture(7), listenPort: 51820, fwmark: 0x2000, peers: [
        PeerPatch(publicKey: .fixture("peer-a"), endpoint: try! Endpoint("192.0.2.1:51820"), persistentKeepalive: 25,
                  replaceAllowedIPs: true, allowedIPs: [.must("10.244.1.0/24"), .must("fd00:244:1::/64")]),
    ])
}

@Suite("Bytes captured from wg(8) and a real kernel")
struct CapturedFromKernelTests {
    /// Sequence (bytes 8..<12) and port id (12..<16) differ from run to run.
    static func withoutSequenceAndPort(_ message: [UInt8]) -> [UInt8] {
        var copy = message
        copy.replaceSubrange(8..<16, with: [UInt8](repeating: 0, count: 8))
        return copy
    }

    @Test func encoderSendsWhatWgSends() throws {
        let captured = CapturedFromKernel.setDevice
        let familyID = try NetlinkMessage(bytes: captured).type
        let encoded = try encodeSetDevice(CapturedFromKernel.patch, interface: "wg0", familyID: familyID)
        #expect(encoded.map(Self.withoutSequenceAndPort) == [Self.withoutSequenceAndPort(captured)])
    }

    @Test func getRequestIsWhatWgSends() throws {
        let captured = CapturedFromKernel.getDeviceRequest
        let familyID = try NetlinkMessage(bytes: captured).type
        let encoded = try encodeGetDevice(interface: "wg0", familyID: familyID)
        // The one difference: wg(8) also sets NLM_F_ACK (0x4) on the dump request. A dump ends
        // with NLMSG_DONE, which carries its status; the kernel sends no ACK after it.
        var expected = Self.withoutSequenceAndPort(captured)
        #expect(expected[6] & 0x04 == 0x04)
        expected[6] &= ~0x04
        #expect(Self.withoutSequenceAndPort(encoded) == expected)
    }

    @Test func decoderReadsTheKernelsReply() throws {
        let reply = try NetlinkMessage.split(CapturedFromKernel.getDeviceReply)
        let state = try decodeGetDevice(reply)
        #expect(state.name == "wg0")
        #expect(state.privateKey == .fixture(7))
        #expect(state.listenPort == 51820 && state.fwmark == 0x2000)
        #expect(state.peers.map(\.publicKey) == [.fixture("peer-a")])
        #expect(state.peers.first?.endpoint == (try Endpoint("192.0.2.1:51820")))
        #expect(state.peers.first?.allowedIPs == [.must("10.244.1.0/24"), .must("fd00:244:1::/64")])
        #expect(state.peers.first?.persistentKeepalive == 25)
    }
}
