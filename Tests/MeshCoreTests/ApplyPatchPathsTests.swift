@testable import MeshCore
import MeshTestKit
import Testing

/// `DeviceState.applying` patches a few changes in place and anything else through keyed
/// storage; on the same ordered state both must give the same device, whatever the changes.
@Suite struct ApplyPatchPaths {
    @Test(arguments: 0..<20)
    func inPlaceAndByKeyAgree(seed: Int) {
        var random = SeededGenerator(seed: UInt64(seed) &+ 99)
        // Few keys and few prefixes, so that changes collide: the same peer twice, a prefix
        // moving between peers, a removal followed by a re-add.
        let keys = (0..<12).map { PublicKey.fixture("k\($0)") }
        let prefixes = (0..<16).map { IPPrefix.must("10.244.\($0).0/24") }
        for _ in 0..<50 {
            // A consistent, ordered state: each prefix held by at most one peer.
            var holders: [PublicKey: [IPPrefix]] = [:]
            for prefix in prefixes where random.next(3) > 0 { holders[keys[random.next(keys.count)], default: []].append(prefix) }
            let peers = holders.keys.sorted().map { key in
                PeerState(publicKey: key, endpoint: nil, allowedIPs: holders[key]!.sorted(), persistentKeepalive: UInt16(random.next(2) * 25),
                          rxBytes: UInt64(random.next(100)))
            }
            #expect(peers.isOrderedAsReported)
            var changes: [PeerPatch] = []
            for _ in 0..<(1 + random.next(DeviceState.inPlaceLimit)) {
                let key = keys[random.next(keys.count)]
                if random.next(5) == 0 {
                    changes.append(.removal(of: key))
                } else {
                    let updateOnly = random.next(3) == 0
                    let endpoint = random.next(2) == 0 ? try! Endpoint("192.168.77.\(random.next(9) + 1):51830") : nil
                    let replace = random.next(4) == 0
                    let added = (0..<random.next(4)).map { _ in prefixes[random.next(prefixes.count)] }
                    changes.append(PeerPatch(publicKey: key, updateOnly: updateOnly, endpoint: endpoint,
                                             replaceAllowedIPs: replace, allowedIPs: added))
                }
            }
            var inPlace = peers
            inPlace.applyInPlace(changes)
            let byKey = peers.applyByKey(DevicePatch(peers: changes))
            #expect(inPlace == byKey, "changes \(changes)")
            #expect(inPlace.isOrderedAsReported)
        }
    }

    @Test func anUnorderedStateTakesTheKeyedPath() {
        let b = PeerState(publicKey: .fixture("b"), endpoint: nil, allowedIPs: [.must("10.244.2.0/24")])
        let c = PeerState(publicKey: .fixture("c"), endpoint: nil, allowedIPs: [.must("10.244.30.0/24"), .must("10.244.3.0/24")])
        #expect(![c, b].isOrderedAsReported)
        #expect(![b, c].isOrderedAsReported, "c's prefixes are not sorted")
        let state = DeviceState(name: "wg0", privateKey: nil, listenPort: 0, fwmark: 0, peers: [c, b])
        let after = state.applying(DevicePatch(peers: [PeerPatch(publicKey: .fixture("d"), allowedIPs: [.must("10.244.4.0/24")])]))
        #expect(after.peers.map(\.publicKey) == [.fixture("b"), .fixture("c"), .fixture("d")])
        #expect(after.peers[1].allowedIPs == [.must("10.244.3.0/24"), .must("10.244.30.0/24")])
    }
}
