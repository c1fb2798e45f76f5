import MeshCore
import MeshTestKit
import Testing

@Suite struct Topology {
    let settings = NodeSettings(node: .must("n1"), address: .must("192.168.77.11"), podCIDRs: [.must("10.244.1.0/24")],
                                tunnelAddress: .must("10.244.1.1"))
    let key = PrivateKey.fixture(1)

    func peer(_ n: Int) -> PeerRecord {
        PeerRecord(node: "n\(n)", publicKey: PublicKey.fixture("n\(n)").base64, keyGeneration: 1,
                   endpoint: "192.168.77.1\(n):51830", allowedIPs: ["10.244.\(n).0/24"], claimRevision: Revision(n))
    }

    func view(strict: Bool, enabled: Bool = true) -> MeshView {
        MeshView(config: ClusterConfig(enabled: enabled, strict: strict), pools: [.must("10.244.0.0/16")],
                 peers: [.must("n1"): peer(1), .must("n2"): peer(2), .must("n3"): peer(3)],
                 verdicts: [.must("n4"): VerdictRecord(node: "n4", state: .rejected, reasons: ["x"], claimRevision: 9, ownedCIDRs: ["10.244.4.0/24"])])
    }

    func routes(_ d: DesiredDataplane) -> [String] { d.routing.routes.map(\.description) }

    @Test func aKeptParseCacheGivesWhatAFreshOneGives() {
        // One cache through a sequence of views: each result must equal the cold computation.
        var cache = PeerParseCache()
        var v = view(strict: true)
        var steps: [MeshView] = [v]
        v.peers[.must("n2")]?.publicKey = PublicKey.fixture("n2-rotated").base64
        steps.append(v)
        v.peers[.must("n3")]?.allowedIPs = ["10.244.3.0/24", "not-a-cidr", "10.244.30.0/24"]
        steps.append(v)
        v.peers[.must("n3")]?.endpoint = "nowhere"
        steps.append(v)
        v.peers[.must("n2")] = nil
        steps.append(v)
        v.peers[.must("n2")] = peer(2)
        steps.append(v)
        for (i, step) in steps.enumerated() {
            let warm = desiredDataplane(settings: settings, view: step, privateKey: key, underlayMTU: 1500, cache: &cache)
            let cold = desiredDataplane(settings: settings, view: step, privateKey: key, underlayMTU: 1500)
            #expect(warm == cold, "step \(i)")
        }
    }

    @Test func disabledOrUnconfiguredMeansNoDataplane() {
        #expect(desiredDataplane(settings: settings, view: view(strict: false, enabled: false), privateKey: key, underlayMTU: 1500) == nil)
        #expect(desiredDataplane(settings: settings, view: MeshView(), privateKey: key, underlayMTU: 1500) == nil)
    }

    @Test func failOpen() throws {
        let d = try #require(desiredDataplane(settings: settings, view: view(strict: false), privateKey: key, underlayMTU: 1500))
        #expect(routes(d) == [
            "throw 10.244.0.0/16 table 51830",
            "throw 10.244.1.0/24 table 51830",
            "10.244.2.0/24 dev meshguard0 table 51830",
            "10.244.3.0/24 dev meshguard0 table 51830",
            "throw 10.244.4.0/24 table 51830",
        ])
        #expect(Set(d.device.peers.flatMap(\.allowedIPs)) == [.must("10.244.2.0/24"), .must("10.244.3.0/24")])
        #expect(!d.device.peers.contains { $0.publicKey == .fixture("n1") })
        #expect(d.routing.rules.map(\.description) == ["95: not from all fwmark 0x2000/0x2000 lookup 51830"])
        #expect(d.routing.mtu == 1440)
        #expect(d.routing.addresses == [InterfaceAddress(address: .must("10.244.1.1"), prefixLength: 32)])
    }

    @Test func strict() throws {
        let d = try #require(desiredDataplane(settings: settings, view: view(strict: true), privateKey: key, underlayMTU: 1500))
        #expect(routes(d) == [
            "unreachable 10.244.0.0/16 table 51830",
            "throw 10.244.1.0/24 table 51830",
            "10.244.2.0/24 dev meshguard0 table 51830",
            "10.244.3.0/24 dev meshguard0 table 51830",
            "unreachable 10.244.4.0/24 table 51830",
        ])
    }

    @Test func allowedIPsAreExactlyTheRoutedCIDRs() throws {
        let d = try #require(desiredDataplane(settings: settings, view: view(strict: true), privateKey: key, underlayMTU: 9000))
        let routed = Set(d.routing.routes.filter { $0.target == .device("meshguard0") }.map(\.destination))
        #expect(Set(d.device.peers.flatMap(\.allowedIPs)) == routed)
        #expect(d.routing.mtu == 8940)
    }

    @Test func corruptPeerRecordIsSkippedAndReported() throws {
        var v = view(strict: false)
        v.peers[.must("n5")] = PeerRecord(node: "n5", publicKey: "garbage", keyGeneration: 1, endpoint: "1.2.3.4:1", allowedIPs: ["10.244.5.0/24"], claimRevision: 1)
        v.peers[.must("n6")] = PeerRecord(node: "n6", publicKey: PublicKey.fixture("n6").base64, keyGeneration: 1,
                                          endpoint: "192.168.77.16:51830", allowedIPs: ["10.244.1.0/25"], claimRevision: 1)
        let d = try #require(desiredDataplane(settings: settings, view: v, privateKey: key, underlayMTU: 1500))
        #expect(d.problems.count == 2)
        #expect(d.problems.contains { $0.hasPrefix("peer n5:") })
        #expect(d.problems.contains { $0.contains("overlaps this node's pod CIDRs") })
        #expect(!routes(d).contains { $0.contains("10.244.1.0/25") })
        // The nodes whose records were not programmed in full, and only those.
        #expect(d.incomplete == [.must("n5"), .must("n6")])
        let healthy = try #require(desiredDataplane(settings: settings, view: view(strict: false), privateKey: key, underlayMTU: 1500))
        #expect(healthy.incomplete.isEmpty)
    }

    @Test func mtuPrecedence() throws {
        var v = view(strict: false)
        v.config?.mtu = 1380
        #expect(try #require(desiredDataplane(settings: settings, view: v, privateKey: key, underlayMTU: 1500)).routing.mtu == 1380)
        var s = settings
        s.mtu = 1300
        #expect(try #require(desiredDataplane(settings: s, view: v, privateKey: key, underlayMTU: 1500)).routing.mtu == 1300)
    }

    @Test func settingsValidation() {
        var s = settings
        s.interface = "a-very-long-interface-name"
        #expect(throws: MeshError.self) { try s.validate() }
        s = settings
        s.table = 254
        #expect(throws: MeshError.self) { try s.validate() }
        s = settings
        s.tunnelAddress = .must("10.9.9.9")
        #expect(throws: MeshError.self) { try s.validate() }
        #expect(NodeSettings.defaultTunnelAddress(for: [.must("10.244.7.0/24")]) == .must("10.244.7.1"))
    }
}
