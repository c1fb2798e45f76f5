@testable import MeshAgent
import MeshCore
import MeshTestKit
import Testing

/// The status's peer list is rebuilt from cached entries; every change of a peer's state or
/// name must still show.
@Suite struct StatusPeersTests {
    let b = PeerState(publicKey: .fixture("b"), endpoint: try! Endpoint("192.168.77.12:51830"), allowedIPs: [.must("10.244.2.0/24")])
    let c = PeerState(publicKey: .fixture("c"), endpoint: nil, allowedIPs: [.must("10.244.3.0/24")])

    func device(_ peers: [PeerState]) -> DeviceState {
        DeviceState(name: "meshguard0", privateKey: nil, listenPort: 51830, fwmark: 0, peers: peers)
    }

    @Test func everyChangeShowsAndThePlaceholderNever() {
        var peers = StatusPeers()
        let names: [PublicKey: NodeName] = [.fixture("b"): .must("n2"), .fixture("c"): .must("n3")]
        let first = peers.entries(for: device([c, b, PeerState(publicKey: placeholderPeerKey, endpoint: nil, allowedIPs: [])]), names: names)
        // In the device's order; the status sorts what it lists.
        #expect(first.map(\.node) == ["n3", "n2"])
        #expect(first[1].endpoint == "192.168.77.12:51830" && first[1].allowedIPs == ["10.244.2.0/24"] && first[0].endpoint == nil)

        // Counters and a handshake on b, nothing on c.
        var busy = b
        busy.rxBytes = 10
        busy.lastHandshake = Timestamp(seconds: 5)
        let second = peers.entries(for: device([busy, c]), names: names)
        #expect(second[0].rxBytes == 10 && second[0].lastHandshake == Timestamp(seconds: 5))
        #expect(second[1] == first[0])

        // c's key now belongs to another node; b is gone; an unknown key shows as such.
        let third = peers.entries(for: device([c, PeerState(publicKey: .fixture("x"), endpoint: nil, allowedIPs: [])]),
                                  names: [.fixture("c"): .must("n9")])
        #expect(third.map(\.node) == ["n9", "unknown"])
    }
}
