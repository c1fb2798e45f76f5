import MeshCore
import MeshTestKit
import Testing

/// `updateDataplane` works out a few changed peers from the last result; whenever it answers,
/// it must answer what the full computation does, and its patches must do to a device and a
/// route table what the full plans do.
@Suite struct UpdateDataplane {
    let settings = NodeSettings(node: .must("n1"), address: .must("192.168.77.11"), podCIDRs: [.must("10.244.1.0/24")],
                                tunnelAddress: .must("10.244.1.1"))
    let key = PrivateKey.fixture(1)
    let pools: [IPPrefix] = [.must("10.244.0.0/16"), .must("10.250.0.0/24")]

    func record(_ n: Int, key: String? = nil, cidrs: [String]? = nil, endpoint: String? = nil) -> PeerRecord {
        PeerRecord(node: "n\(n)", publicKey: PublicKey.fixture(key ?? "n\(n)").base64, keyGeneration: 1,
                   endpoint: endpoint ?? "192.168.77.\(10 + n):51830", allowedIPs: cidrs ?? ["10.244.\(n).0/24"],
                   claimRevision: Revision(n))
    }

    func view(nodes: ClosedRange<Int> = 1...6, strict: Bool = false) -> MeshView {
        var peers: [NodeName: PeerRecord] = [:]
        for n in nodes { peers[.must("n\(n)")] = record(n) }
        return MeshView(config: ClusterConfig(enabled: true, strict: strict, persistentKeepalive: 25), pools: pools, peers: peers)
    }

    func full(_ view: MeshView) -> DesiredDataplane? {
        desiredDataplane(settings: settings, view: view, privateKey: key, underlayMTU: 1500)
    }

    /// The device as a pass that applied `desired` leaves it.
    func device(_ desired: DesiredDataplane) -> DeviceState {
        DeviceState(name: settings.interface, privateKey: key, listenPort: settings.listenPort, fwmark: settings.fwmark,
                    peers: desired.device.peers.map {
                        PeerState(publicKey: $0.publicKey, endpoint: $0.endpoint, allowedIPs: $0.allowedIPs,
                                  persistentKeepalive: $0.persistentKeepalive, rxBytes: 7)
                    })
    }

    /// Checks `update` against the full computation for `view`, starting from `previous`.
    func expectSame(_ update: DataplaneUpdate, previous: DesiredDataplane, view: MeshView, _ comment: Comment) throws {
        let whole = try #require(full(view))
        #expect(update.desired == whole, comment)
        let observed = device(previous)
        let byPlan = observed.applying(plan(desired: whole.device, observed: observed, options: PlanOptions(removeUnknownPeers: true)))
        #expect(observed.applying(update.devicePatch(observed: observed)) == byPlan, comment)
        for family in [IPAddress.Family.inet, .inet6] {
            let have = previous.routing.routes.filter { $0.destination.family == family }
            let want = whole.routing.routes.filter { $0.destination.family == family }
            #expect(Set(update.routePatch(family: family, observed: have).applied(to: have)) == Set(planRoutes(desired: want, observed: have).applied(to: have)),
                    comment)
        }
    }

    @Test(arguments: 0..<12)
    func randomChangesGiveWhatTheFullComputationGives(seed: Int) throws {
        var random = SeededGenerator(seed: UInt64(seed) &+ 7)
        // Mostly changes a healthy mesh sees (new keys, endpoints, CIDRs of the node's own,
        // nodes leaving and coming back); now and then one that collides (a key or CIDR another
        // peer has, one overlapping this node's, a malformed value) and makes the update decline
        // until a later change repairs it.
        func cidrs(_ n: Int) -> [String] {
            // n4 alone may take a CIDR equal to a pool.
            let own = ["10.244.\(n).0/24", "10.244.\(n + 10).0/24", "fd00:0:0:\(n)::/64", n == 4 ? "10.250.0.0/24" : "10.244.\(n + 20).0/24"]
            let clashing = ["10.244.1.128/25", "10.244.2.0/23", "10.244.\(n + 1).0/24", "bad"]
            let first = random.next(own.count)
            let kept = (0..<random.next(3)).map { own[(first + $0) % own.count] }
            return random.next(8) == 0 ? kept + [clashing[random.next(clashing.count)]] : kept
        }
        var v = view()
        var previous = try #require(full(v))
        var cache = PeerParseCache()
        var updated = 0, declined = 0
        for step in 0..<120 {
            var changed = Set<NodeName>()
            var everything = false
            // A rejected verdict lasts one step; a skipped record is repaired half of the time.
            if !v.verdicts.isEmpty {
                v.verdicts = [:]
                everything = true
            }
            if let broken = previous.incomplete.min(), random.next(2) == 0 {
                v.peers[broken] = record(Int(broken.rawValue.dropFirst())!)
                changed.insert(broken)
            }
            for _ in 0..<(1 + random.next(3)) {
                let n = 2 + random.next(8)
                let node = NodeName.must("n\(n)")
                changed.insert(node)
                var r = v.peers[node] ?? record(n)
                switch random.next(20) {
                case 0...5: r.publicKey = PublicKey.fixture(random.next(8) == 0 ? "n\(2 + random.next(8))" : "s\(step)-\(n)").base64
                case 6...8: r.endpoint = random.next(8) == 0 ? "nowhere" : "192.168.77.\(random.next(50) + 1):51830"
                case 9...12: r.allowedIPs = cidrs(n)
                case 13, 14: v.peers[node] = nil; continue
                case 15...17: r = record(n)
                case 18:
                    // A rejected verdict comes or goes: not a peer change.
                    v.verdicts = v.verdicts.isEmpty
                        ? [.must("n20"): VerdictRecord(node: "n20", state: .rejected, reasons: ["x"], claimRevision: 1, ownedCIDRs: ["10.244.40.0/24"])]
                        : [:]
                    everything = true
                default: v.config?.strict.toggle(); everything = true
                }
                v.peers[node] = r
            }
            if everything {
                previous = try #require(full(v))
                continue
            }
            if let update = updateDataplane(previous, settings: settings, view: v, changed: changed, cache: &cache) {
                try expectSame(update, previous: previous, view: v, "seed \(seed) step \(step)")
                previous = update.desired
                updated += 1
            } else {
                previous = try #require(full(v))
                declined += 1
            }
        }
        // Both ways must have been taken, or the comparison proves little.
        #expect(updated >= 20, "updated \(updated)")
        #expect(declined >= 5, "declined \(declined)")
    }

    @Test func aNewKeyChangesOnePeerAndNoRoute() throws {
        var v = view()
        let previous = try #require(full(v))
        v.peers[.must("n3")] = record(3, key: "n3-rotated")
        var cache = PeerParseCache()
        let update = try #require(updateDataplane(previous, settings: settings, view: v, changed: [.must("n3")], cache: &cache))
        try expectSame(update, previous: previous, view: v, "rotation")
        let patch = update.devicePatch(observed: device(previous))
        #expect(patch.peers.map(\.publicKey) == [.fixture("n3"), .fixture("n3-rotated")])
        #expect(patch.peers.first?.remove == true)
        #expect(update.routePatch(family: .inet, observed: previous.routing.routes).isEmpty)
        #expect(update.desired.nodesByKey[.fixture("n3-rotated")] == .must("n3"))
        #expect(update.desired.keysByNode[.must("n3")] == .fixture("n3-rotated"))
    }

    @Test func aNodeThatLeavesTakesItsRouteOrHandsItBackToItsPool() throws {
        var v = view()
        v.peers[.must("n4")] = record(4, cidrs: ["10.250.0.0/24"])
        let previous = try #require(full(v))
        v.peers[.must("n3")] = nil
        v.peers[.must("n4")] = nil
        var cache = PeerParseCache()
        let update = try #require(updateDataplane(previous, settings: settings, view: v, changed: [.must("n3"), .must("n4")], cache: &cache))
        try expectSame(update, previous: previous, view: v, "leave")
        let patch = update.routePatch(family: .inet, observed: previous.routing.routes)
        #expect(patch.delete.map(\.destination) == [.must("10.244.3.0/24")])
        #expect(patch.replace == [RouteSpec(destination: .must("10.250.0.0/24"), table: settings.table, target: .throw)])
    }

    @Test func anIPv6CIDRBringsItsRule() throws {
        var v = view()
        let previous = try #require(full(v))
        #expect(previous.routing.rules.map(\.family) == [.inet])
        v.peers[.must("n5")] = record(5, cidrs: ["10.244.5.0/24", "fd00:0:0:5::/64"])
        var cache = PeerParseCache()
        let update = try #require(updateDataplane(previous, settings: settings, view: v, changed: [.must("n5")], cache: &cache))
        try expectSame(update, previous: previous, view: v, "v6")
        #expect(update.desired.routing.rules.map(\.family) == [.inet, .inet6])
    }

    /// Each case changes n3's record (or the view) so that the update must leave it to the full
    /// computation.
    static let declines: [(String, @Sendable (inout MeshView) -> Void)] = [
        ("key another peer has", { $0.peers[.must("n3")]?.publicKey = PublicKey.fixture("n4").base64 }),
        ("malformed key", { $0.peers[.must("n3")]?.publicKey = "not-a-key" }),
        ("malformed endpoint", { $0.peers[.must("n3")]?.endpoint = "nowhere" }),
        ("malformed CIDR", { $0.peers[.must("n3")]?.allowedIPs = ["10.244.3.0/24", "bad"] }),
        ("CIDR of another peer", { $0.peers[.must("n3")]?.allowedIPs = ["10.244.4.0/25"] }),
        ("CIDR overlapping this node's", { $0.peers[.must("n3")]?.allowedIPs = ["10.244.0.0/23"] }),
        ("CIDRs overlapping each other", { $0.peers[.must("n3")]?.allowedIPs = ["10.244.3.0/24", "10.244.3.0/25"] }),
        ("encryption turned off", { $0.config?.enabled = false }),
    ]

    @Test(arguments: declines.indices)
    func aChangeThatIsNotLocalIsLeftToTheFullComputation(index: Int) throws {
        let (name, change) = Self.declines[index]
        var v = view()
        let previous = try #require(full(v))
        change(&v)
        var cache = PeerParseCache()
        #expect(updateDataplane(previous, settings: settings, view: v, changed: [.must("n3")], cache: &cache) == nil, "\(name)")
    }

    @Test func aResultWithProblemsOrRejectedVerdictsIsNotUpdated() throws {
        var v = view()
        v.peers[.must("n6")]?.endpoint = "nowhere"
        let withProblem = try #require(full(v))
        #expect(!withProblem.updatable)
        var cache = PeerParseCache()
        #expect(updateDataplane(withProblem, settings: settings, view: v, changed: [.must("n3")], cache: &cache) == nil)

        v = view()
        v.verdicts[.must("n9")] = VerdictRecord(node: "n9", state: .rejected, reasons: ["x"], claimRevision: 1, ownedCIDRs: ["10.244.9.0/24"])
        let withVerdict = try #require(full(v))
        #expect(!withVerdict.updatable)
        // This node's own rejected verdict decides no fallback route: it does not count.
        v = view()
        v.verdicts[.must("n1")] = VerdictRecord(node: "n1", state: .rejected, reasons: ["x"], claimRevision: 1, ownedCIDRs: [])
        #expect(try #require(full(v)).updatable)
    }

    @Test func moreChangesThanTheLimitAreLeftToTheFullComputation() throws {
        let v = view(nodes: 1...(updateDataplaneLimit + 3))
        let previous = try #require(full(view()))
        let changed = Set(v.peers.keys)
        var cache = PeerParseCache()
        #expect(updateDataplane(previous, settings: settings, view: v, changed: changed, cache: &cache) == nil)
        let fewer = Set(changed.sorted().prefix(updateDataplaneLimit))
        #expect(updateDataplane(previous, settings: settings, view: v, changed: fewer, cache: &cache) != nil)
    }
}
