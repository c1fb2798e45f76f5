import MeshCore
import MeshKernel
import MeshTestKit
import Netlink
import Testing

/// SLOT for reference bytes captured from wg(8) talking to a real kernel. Empty until the
/// QEMU VM harness exists; the tests below are skipped until then and must pass once filled.
///
/// How to capture, inside the VM as root, in a scratch namespace (`ip netns add cap`):
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
/// then copy the hex of wg(8)'s WG_CMD_SET_DEVICE request and of the kernel's GET_DEVICE
/// reply (every part, through NLMSG_DONE) from the pcap into the constants below, with the
/// kernel version and the date. Sequence numbers and port ids are ignored when comparing.
enum CapturedFromKernel {
    /// wg(8)'s WG_CMD_SET_DEVICE message for the `wg set` above (one message). `wg set …
    /// allowed-ips` replaces the list, so the matching patch has `replaceAllowedIPs`.
    static let setDevice: [UInt8]? = nil
    /// The kernel's reply to `wg show wg0` after that: every message, NLMSG_DONE included.
    static let getDeviceReply: [UInt8]? = nil

    static var isPresent: Bool { setDevice != nil && getDeviceReply != nil }

    /// What `wg set` above asks for, as a patch.
    static let patch = DevicePatch(privateKey: .fixture(7), listenPort: 51820, fwmark: 0x2000, peers: [
        PeerPatch(publicKey: .fixture("peer-a"), endpoint: try! Endpoint("192.0.2.1:51820"), persistentKeepalive: 25,
                  replaceAllowedIPs: true, allowedIPs: [.must("10.244.1.0/24"), .must("fd00:244:1::/64")]),
    ])
}

@Suite("Bytes captured from wg(8) and a real kernel",
       .enabled(if: CapturedFromKernel.isPresent, "not captured yet: fill CapturedFromKernel from the QEMU VM (see its comment)"))
struct CapturedFromKernelTests {
    /// Sequence (bytes 8..<12) and port id (12..<16) differ from run to run.
    static func withoutSequenceAndPort(_ message: [UInt8]) -> [UInt8] {
        var copy = message
        copy.replaceSubrange(8..<16, with: [UInt8](repeating: 0, count: 8))
        return copy
    }

    @Test func encoderSendsWhatWgSends() throws {
        let captured = try #require(CapturedFromKernel.setDevice)
        let familyID = try NetlinkMessage(bytes: captured).type
        let encoded = try encodeSetDevice(CapturedFromKernel.patch, interface: "wg0", familyID: familyID)
        #expect(encoded.map(Self.withoutSequenceAndPort) == [Self.withoutSequenceAndPort(captured)])
    }

    @Test func decoderReadsTheKernelsReply() throws {
        let reply = try NetlinkMessage.split(try #require(CapturedFromKernel.getDeviceReply))
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
