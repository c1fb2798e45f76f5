import MeshCore
import MeshTestKit
import Testing

/// `DeviceState.applying(_:)`: WireGuard's semantics for a patch, as a pure function. Each case
/// starts from a device with peers b (10.244.2.0/24) and c (10.244.3.0/24, 10.244.30.0/24) and
/// renders the result as "name prefixes" lines, sorted by key as a backend reports them.
struct ApplyPatchCase: Sendable, CustomTestStringConvertible {
    var name: String
    var patch: [PeerPatch]
    var replacePeers = false
    var expected: [String]
    var testDescription: String { name }
}

private func key(_ name: String) -> PublicKey { .fixture(name) }
private func prefixes(_ texts: String...) -> [IPPrefix] { texts.map(IPPrefix.must) }

let applyPatchCases: [ApplyPatchCase] = [
    ApplyPatchCase(name: "an empty patch changes nothing",
                   patch: [], expected: ["b 10.244.2.0/24", "c 10.244.3.0/24,10.244.30.0/24"]),
    ApplyPatchCase(name: "a new peer is added with its prefixes, sorted",
                   patch: [PeerPatch(publicKey: key("d"), allowedIPs: prefixes("10.244.4.0/24", "10.244.40.0/24", "10.244.14.0/24"))],
                   expected: ["b 10.244.2.0/24", "c 10.244.3.0/24,10.244.30.0/24", "d 10.244.4.0/24,10.244.14.0/24,10.244.40.0/24"]),
    ApplyPatchCase(name: "update-only does not create a peer",
                   patch: [PeerPatch(publicKey: key("d"), updateOnly: true, allowedIPs: prefixes("10.244.4.0/24"))],
                   expected: ["b 10.244.2.0/24", "c 10.244.3.0/24,10.244.30.0/24"]),
    ApplyPatchCase(name: "update-only adds to an existing peer",
                   patch: [PeerPatch(publicKey: key("b"), updateOnly: true, allowedIPs: prefixes("10.244.20.0/24"))],
                   expected: ["b 10.244.2.0/24,10.244.20.0/24", "c 10.244.3.0/24,10.244.30.0/24"]),
    ApplyPatchCase(name: "a prefix added to one peer is taken from the other",
                   patch: [PeerPatch(publicKey: key("b"), updateOnly: true, allowedIPs: prefixes("10.244.30.0/24"))],
                   expected: ["b 10.244.2.0/24,10.244.30.0/24", "c 10.244.3.0/24"]),
    ApplyPatchCase(name: "the placeholder move removes one prefix and leaves the rest",
                   patch: [PeerPatch(publicKey: placeholderPeerKey, allowedIPs: prefixes("10.244.30.0/24")), .removal(of: placeholderPeerKey)],
                   expected: ["b 10.244.2.0/24", "c 10.244.3.0/24"]),
    ApplyPatchCase(name: "removal drops the peer and its prefixes; re-adding starts empty",
                   patch: [.removal(of: key("c")), PeerPatch(publicKey: key("c"), allowedIPs: prefixes("10.244.5.0/24"))],
                   expected: ["b 10.244.2.0/24", "c 10.244.5.0/24"]),
    ApplyPatchCase(name: "a prefix of a removed peer can go to another",
                   patch: [.removal(of: key("c")), PeerPatch(publicKey: key("b"), allowedIPs: prefixes("10.244.3.0/24"))],
                   expected: ["b 10.244.2.0/24,10.244.3.0/24"]),
    ApplyPatchCase(name: "replace-allowed-ips replaces the peer's list only",
                   patch: [PeerPatch(publicKey: key("c"), replaceAllowedIPs: true, allowedIPs: prefixes("10.244.6.0/24"))],
                   expected: ["b 10.244.2.0/24", "c 10.244.6.0/24"]),
    ApplyPatchCase(name: "replace-allowed-ips may name a prefix the peer had",
                   patch: [PeerPatch(publicKey: key("c"), replaceAllowedIPs: true, allowedIPs: prefixes("10.244.30.0/24", "10.244.6.0/24"))],
                   expected: ["b 10.244.2.0/24", "c 10.244.6.0/24,10.244.30.0/24"]),
    ApplyPatchCase(name: "replace-peers starts from no peers",
                   patch: [PeerPatch(publicKey: key("d"), allowedIPs: prefixes("10.244.2.0/24"))], replacePeers: true,
                   expected: ["d 10.244.2.0/24"]),
    ApplyPatchCase(name: "a prefix named twice in one patch ends with the last peer",
                   patch: [PeerPatch(publicKey: key("d"), allowedIPs: prefixes("10.244.7.0/24")),
                           PeerPatch(publicKey: key("b"), allowedIPs: prefixes("10.244.7.0/24"))],
                   expected: ["b 10.244.2.0/24,10.244.7.0/24", "c 10.244.3.0/24,10.244.30.0/24", "d "]),
]

@Suite struct ApplyPatch {
    let start = DeviceState(name: "wg0", privateKey: .fixture(1), listenPort: 51830, fwmark: 0x2000, peers: [
        PeerState(publicKey: key("b"), endpoint: try! Endpoint("192.168.77.12:51830"), allowedIPs: prefixes("10.244.2.0/24")),
        PeerState(publicKey: key("c"), endpoint: try! Endpoint("192.168.77.13:51830"), allowedIPs: prefixes("10.244.3.0/24", "10.244.30.0/24"),
                  lastHandshake: Timestamp(seconds: 100), rxBytes: 5, txBytes: 6),
    ])

    func render(_ state: DeviceState) -> [String] {
        state.peers.map { peer in
            let name = String(decoding: peer.publicKey.bytes.prefix(while: { $0 != 1 }), as: UTF8.self)
            return "\(name) " + peer.allowedIPs.map(\.description).joined(separator: ",")
        }
    }

    @Test(arguments: applyPatchCases)
    func table(_ c: ApplyPatchCase) {
        let after = start.applying(DevicePatch(replacePeers: c.replacePeers, peers: c.patch))
        #expect(render(after) == c.expected)
        #expect(after.peers.map(\.publicKey) == after.peers.map(\.publicKey).sorted())
    }

    @Test func fieldsChangeOnlyWhenSet() {
        let same = start.applying(DevicePatch(listenPort: 40000))
        #expect(same.listenPort == 40000 && same.fwmark == 0x2000 && same.privateKey == .fixture(1))
        let rekeyed = start.applying(DevicePatch(privateKey: .fixture(2), fwmark: 7))
        #expect(rekeyed.privateKey == .fixture(2) && rekeyed.fwmark == 7 && rekeyed.listenPort == 51830)
    }

    @Test func existingPeersKeepTheirHandshakeAndCountersNewOnesHaveNone() {
        let after = start.applying(DevicePatch(peers: [
            PeerPatch(publicKey: key("c"), updateOnly: true, endpoint: try! Endpoint("192.168.77.33:51830"), persistentKeepalive: 25),
            PeerPatch(publicKey: key("d"), allowedIPs: prefixes("10.244.4.0/24")),
        ]))
        let c = after.peers.first { $0.publicKey == key("c") }
        #expect(c?.lastHandshake == Timestamp(seconds: 100) && c?.rxBytes == 5 && c?.txBytes == 6)
        #expect(c?.endpoint == (try! Endpoint("192.168.77.33:51830")) && c?.persistentKeepalive == 25)
        let d = after.peers.first { $0.publicKey == key("d") }
        #expect(d?.lastHandshake == nil && d?.rxBytes == 0 && d?.endpoint == nil)
    }

    @Test func thePlanAppliedGivesWhatWasDesired() {
        // plan and applying agree: the state after the patch needs no further patch.
        let desired = DeviceConfig(privateKey: .fixture(1), listenPort: 51830, fwmark: 0x2000, peers: [
            PeerConfig(publicKey: key("b"), endpoint: try! Endpoint("192.168.77.12:51830"), allowedIPs: prefixes("10.244.2.0/24", "10.244.30.0/24")),
            PeerConfig(publicKey: key("d"), endpoint: try! Endpoint("192.168.77.14:51830"), allowedIPs: prefixes("10.244.4.0/24")),
        ])
        let options = PlanOptions(removeUnknownPeers: true)
        let after = start.applying(plan(desired: desired, observed: start, options: options))
        #expect(plan(desired: desired, observed: after, options: options).isEmpty)
        #expect(render(after) == ["b 10.244.2.0/24,10.244.30.0/24", "d 10.244.4.0/24"])
    }

    @Test func aFullLoadOfFiveThousandPeers() {
        // The size of the agent benchmark's device; each peer keeps its own prefix.
        let peers = (0..<5_000).map { i in
            PeerPatch(publicKey: try! PublicKey(bytes: (0..<32).map { UInt8(truncatingIfNeeded: i >> ($0 % 4 * 8)) ^ UInt8($0) }),
                      allowedIPs: [try! IPPrefix("10.\(i / 256).\(i % 256).0/24")])
        }
        let empty = DeviceState(name: "wg0", privateKey: nil, listenPort: 0, fwmark: 0, peers: [])
        let after = empty.applying(DevicePatch(peers: peers))
        #expect(after.peers.count == 5_000)
        #expect(after.peers.allSatisfy { $0.allowedIPs.count == 1 })
    }
}

/// The routing side: after a planned patch is applied to the observed link, table and rules,
/// planning again finds nothing to do, and what the patch did not name is left alone.
@Suite struct ApplyRoutingPatch {
    let table: UInt32 = 51830

    func route(_ cidr: String, _ target: RouteSpec.Target) -> RouteSpec { RouteSpec(destination: .must(cidr), table: table, target: target) }

    @Test func routesAfterThePatchNeedNoFurtherPatch() {
        let observed = [route("10.244.2.0/24", .throw), route("10.244.3.0/24", .device("meshguard0")), route("10.244.9.0/24", .device("meshguard0"))]
        let desired = [route("10.244.2.0/24", .device("meshguard0")), route("10.244.3.0/24", .device("meshguard0")), route("10.244.4.0/24", .device("meshguard0"))]
        let patch = planRoutes(desired: desired, observed: observed)
        let after = patch.applied(to: observed)
        #expect(after.sorted() == desired.sorted() && after.count == desired.count)
        #expect(planRoutes(desired: desired, observed: after).isEmpty)
        #expect(RoutePatch().applied(to: observed) == observed)
    }

    @Test func rulesAfterThePatchKeepOtherTablesRules() {
        let ours = RuleSpec(family: .inet, priority: 95, fwmark: 0x2000, fwmask: 0x2000, table: table, invert: true)
        let stale = RuleSpec(family: .inet, priority: 90, fwmark: 0x1000, fwmask: 0x1000, table: table, invert: true)
        let foreign = RuleSpec(family: .inet, priority: 100, fwmark: 0, fwmask: 0, table: 254, invert: false)
        let observed = [foreign, stale]
        let patch = planRules(desired: [ours], table: table, observed: observed)
        let after = patch.applied(to: observed)
        #expect(Set(after) == [foreign, ours])
        #expect(planRules(desired: [ours], table: table, observed: after).isEmpty)
    }

    @Test func linkAfterThePatchNeedsNoFurtherPatch() {
        let old = InterfaceAddress(address: .must("10.244.1.9"), prefixLength: 32)
        let new = InterfaceAddress(address: .must("10.244.1.1"), prefixLength: 32)
        let linkLocal = InterfaceAddress(address: .must("fe80::1"), prefixLength: 64)
        let observed = LinkState(name: "meshguard0", index: 7, mtu: 1420, isUp: false, addresses: [old, linkLocal], kind: "wireguard")
        let patch = planLink(mtu: 1440, addresses: [new], observed: observed)
        let after = observed.applying(patch)
        #expect(after.mtu == 1440 && after.isUp && Set(after.addresses) == [new, linkLocal])
        #expect(planLink(mtu: 1440, addresses: [new], observed: after).isEmpty)
    }
}
