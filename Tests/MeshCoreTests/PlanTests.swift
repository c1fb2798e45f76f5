import MeshCore
import MeshTestKit
import Testing

/// Renders a patch as short lines so that tables of cases read like `wg set` commands.
func render(_ patch: DevicePatch) -> [String] {
    var lines: [String] = []
    if patch.privateKey != nil { lines.append("private-key") }
    if let port = patch.listenPort { lines.append("listen-port \(port)") }
    if let mark = patch.fwmark { lines.append("fwmark \(mark)") }
    for peer in patch.peers {
        let name = peer.publicKey == placeholderPeerKey ? "placeholder" : String(decoding: peer.publicKey.bytes.prefix(while: { $0 != 1 }), as: UTF8.self)
        if peer.remove { lines.append("\(name) remove"); continue }
        var parts = [name]
        if peer.updateOnly { parts.append("update-only") }
        if let e = peer.endpoint { parts.append("endpoint \(e)") }
        if let k = peer.persistentKeepalive { parts.append("keepalive \(k)") }
        if peer.replaceAllowedIPs { parts.append("replace") }
        if !peer.allowedIPs.isEmpty { parts.append("+" + peer.allowedIPs.map(\.description).joined(separator: ",+")) }
        lines.append(parts.joined(separator: " "))
    }
    return lines
}

struct Peer: Sendable {
    var name: String
    var cidrs: [String]
    var endpoint = "192.168.77.12:51830"
    var key: PublicKey { .fixture(name) }
    var config: PeerConfig { PeerConfig(publicKey: key, endpoint: try! Endpoint(endpoint), allowedIPs: cidrs.map(IPPrefix.must)) }
    var state: PeerState { PeerState(publicKey: key, endpoint: try! Endpoint(endpoint), allowedIPs: cidrs.map(IPPrefix.must).sorted()) }
}

struct PlanCase: Sendable, CustomTestStringConvertible {
    var name: String
    var desired: [Peer]
    var observed: [Peer]
    var afterFullSync = true
    var expected: [String]
    var testDescription: String { name }
}

let planCases: [PlanCase] = [
    PlanCase(name: "identical state after restart gives an empty patch",
             desired: [Peer(name: "b", cidrs: ["10.244.2.0/24"]), Peer(name: "c", cidrs: ["10.244.3.0/24"])],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24"]), Peer(name: "c", cidrs: ["10.244.3.0/24"])],
             expected: []),
    PlanCase(name: "new peer is added with endpoint and allowed IPs",
             desired: [Peer(name: "b", cidrs: ["10.244.2.0/24"]), Peer(name: "c", cidrs: ["10.244.3.0/24"], endpoint: "192.168.77.13:51830")],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24"])],
             expected: ["c endpoint 192.168.77.13:51830 keepalive 0 +10.244.3.0/24"]),
    PlanCase(name: "departed peer is removed after the first full sync",
             desired: [Peer(name: "b", cidrs: ["10.244.2.0/24"])],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24"]), Peer(name: "c", cidrs: ["10.244.3.0/24"])],
             expected: ["c remove"]),
    PlanCase(name: "unknown peer is kept before the first full sync",
             desired: [Peer(name: "b", cidrs: ["10.244.2.0/24"])],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24"]), Peer(name: "c", cidrs: ["10.244.3.0/24"])],
             afterFullSync: false, expected: []),
    PlanCase(name: "endpoint change sends only the endpoint",
             desired: [Peer(name: "b", cidrs: ["10.244.2.0/24"], endpoint: "192.168.77.99:51830")],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24"])],
             expected: ["b update-only endpoint 192.168.77.99:51830"]),
    PlanCase(name: "peer gaining a CIDR gets only the new CIDR, update-only",
             desired: [Peer(name: "b", cidrs: ["10.244.2.0/24", "10.244.20.0/24"])],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24"])],
             expected: ["b update-only +10.244.20.0/24"]),
    PlanCase(name: "peer losing a CIDR hands it to the placeholder, which is removed",
             desired: [Peer(name: "b", cidrs: ["10.244.2.0/24"])],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24", "10.244.20.0/24"])],
             expected: ["placeholder +10.244.20.0/24", "placeholder remove"]),
    PlanCase(name: "CIDR moving between peers goes with the new owner's add, no placeholder",
             desired: [Peer(name: "b", cidrs: ["10.244.2.0/24"]), Peer(name: "c", cidrs: ["10.244.3.0/24", "10.244.20.0/24"])],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24", "10.244.20.0/24"]), Peer(name: "c", cidrs: ["10.244.3.0/24"])],
             expected: ["c update-only +10.244.20.0/24"]),
    PlanCase(name: "key change removes the old key and adds the new one",
             desired: [Peer(name: "b2", cidrs: ["10.244.2.0/24"])],
             observed: [Peer(name: "b", cidrs: ["10.244.2.0/24"])],
             expected: ["b remove", "b2 endpoint 192.168.77.12:51830 keepalive 0 +10.244.2.0/24"]),
    PlanCase(name: "one peer changing among many touches only that peer",
             desired: (1...50).map { Peer(name: "p\($0)", cidrs: ["10.244.\($0).0/24"]) } + [Peer(name: "p51", cidrs: ["10.244.51.0/24", "10.244.151.0/24"])],
             observed: (1...51).map { Peer(name: "p\($0)", cidrs: ["10.244.\($0).0/24"]) },
             expected: ["p51 update-only +10.244.151.0/24"]),
]

@Suite struct PlanDevice {
    let key = PrivateKey.fixture(7)

    @Test(arguments: planCases)
    func table(_ c: PlanCase) {
        let desired = DeviceConfig(privateKey: key, listenPort: 51830, fwmark: 0x2000, peers: c.desired.map(\.config))
        let observed = DeviceState(name: "meshguard0", privateKey: key, listenPort: 51830, fwmark: 0x2000, peers: c.observed.map(\.state))
        let patch = plan(desired: desired, observed: observed, options: PlanOptions(removeUnknownPeers: c.afterFullSync))
        #expect(render(patch) == c.expected)
    }

    @Test func freshDeviceGetsEverything() {
        let desired = DeviceConfig(privateKey: key, listenPort: 51830, fwmark: 0x2000,
                                   peers: [Peer(name: "b", cidrs: ["10.244.2.0/24"]).config])
        let observed = DeviceState(name: "meshguard0", privateKey: nil, listenPort: 40000, fwmark: 0, peers: [])
        let patch = plan(desired: desired, observed: observed, options: PlanOptions(removeUnknownPeers: false))
        #expect(render(patch) == ["private-key", "listen-port 51830", "fwmark 8192", "b endpoint 192.168.77.12:51830 keepalive 0 +10.244.2.0/24"])
        #expect(patch.privateKey == key)
        #expect(!patch.replacePeers)
    }

    @Test func leftoverPlaceholderIsAlwaysRemoved() {
        let desired = DeviceConfig(privateKey: key, listenPort: 51830, fwmark: 0x2000, peers: [])
        let observed = DeviceState(name: "meshguard0", privateKey: key, listenPort: 51830, fwmark: 0x2000,
                                   peers: [PeerState(publicKey: placeholderPeerKey, endpoint: nil, allowedIPs: [.must("10.9.0.0/24")])])
        let patch = plan(desired: desired, observed: observed, options: PlanOptions(removeUnknownPeers: false))
        #expect(render(patch) == ["placeholder remove"])
    }

    @Test func applyingThePlanConverges() async throws {
        // Every case, applied to a device with WireGuard's semantics, lands exactly on desired.
        for c in planCases where c.afterFullSync {
            let devices = FakeWireGuardDevices()
            try await devices.ensureDevice(named: "wg")
            try await devices.apply(DevicePatch(privateKey: key, listenPort: 51830, fwmark: 0x2000,
                                                peers: c.observed.map { PeerPatch(publicKey: $0.key, endpoint: $0.state.endpoint, allowedIPs: $0.state.allowedIPs) }),
                                    to: "wg")
            let desired = DeviceConfig(privateKey: key, listenPort: 51830, fwmark: 0x2000, peers: c.desired.map(\.config))
            let before = try await devices.device(named: "wg")!
            try await devices.apply(plan(desired: desired, observed: before, options: PlanOptions(removeUnknownPeers: true)), to: "wg")
            let after = try await devices.device(named: "wg")!
            let got = after.peers.sorted { $0.publicKey < $1.publicKey }.map { "\($0.publicKey.fingerprint) \($0.allowedIPs)" }
            let want = desired.peers.map { "\($0.publicKey.fingerprint) \($0.allowedIPs)" }
            #expect(got == want, "\(c.name)")
            #expect(plan(desired: desired, observed: after, options: PlanOptions(removeUnknownPeers: true)).isEmpty, "\(c.name)")
        }
    }
}

@Suite struct PlanRoutes {
    let t: UInt32 = 51830
    func r(_ cidr: String, _ target: RouteSpec.Target) -> RouteSpec { RouteSpec(destination: .must(cidr), table: t, target: target) }

    @Test func identicalIsEmpty() {
        let routes = [r("10.244.2.0/24", .device("meshguard0")), r("10.244.1.0/24", .throw)]
        #expect(planRoutes(desired: routes, observed: routes).isEmpty)
    }

    @Test func throwToDeviceIsReplacedInPlace() {
        let patch = planRoutes(desired: [r("10.244.2.0/24", .device("meshguard0"))], observed: [r("10.244.2.0/24", .throw)])
        #expect(patch.replace == [r("10.244.2.0/24", .device("meshguard0"))])
        #expect(patch.delete.isEmpty)
    }

    @Test func strayRoutesInOurTableGo() {
        let patch = planRoutes(desired: [r("10.244.2.0/24", .device("meshguard0"))],
                               observed: [r("10.244.2.0/24", .device("meshguard0")), r("10.99.0.0/16", .unreachable)])
        #expect(patch.replace.isEmpty)
        #expect(patch.delete == [r("10.99.0.0/16", .unreachable)])
    }

    @Test func rules() {
        let want = RuleSpec(family: .inet, priority: 95, fwmark: 0x2000, fwmask: 0x2000, table: t, invert: true)
        let stale = RuleSpec(family: .inet, priority: 90, fwmark: 0x2000, fwmask: 0x2000, table: t, invert: true)
        let foreign = RuleSpec(family: .inet, priority: 99, fwmark: 0x100000, fwmask: 0x100000, table: 1, invert: true)
        let main = RuleSpec(family: .inet, priority: 32766, fwmark: 0, fwmask: 0, table: 254, invert: false)
        #expect(planRules(desired: [want], table: t, observed: [main, foreign]) == RulePatch(add: [want]))
        #expect(planRules(desired: [want], table: t, observed: [main, want, foreign]).isEmpty)
        #expect(planRules(desired: [want], table: t, observed: [stale, main]) == RulePatch(add: [want], delete: [stale]))
        #expect(planRules(desired: [], table: t, observed: [want, main, foreign]) == RulePatch(delete: [want]))
    }

    @Test func link() {
        let addr = InterfaceAddress(address: .must("10.244.1.1"), prefixLength: 32)
        let ll = InterfaceAddress(address: .must("fe80::1"), prefixLength: 64)
        let down = LinkState(name: "meshguard0", index: 5, mtu: 1420, isUp: false, addresses: [ll], kind: "tun")
        #expect(planLink(mtu: 1440, addresses: [addr], observed: down) == LinkPatch(mtu: 1440, up: true, addAddresses: [addr]))
        let good = LinkState(name: "meshguard0", index: 5, mtu: 1440, isUp: true, addresses: [addr, ll], kind: "tun")
        #expect(planLink(mtu: 1440, addresses: [addr], observed: good).isEmpty)
        let stray = InterfaceAddress(address: .must("10.9.9.9"), prefixLength: 32)
        var extra = good
        extra.addresses.append(stray)
        #expect(planLink(mtu: 1440, addresses: [addr], observed: extra) == LinkPatch(removeAddresses: [stray]))
    }
}
