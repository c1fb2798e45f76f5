import Logging
@testable import MeshAgent
import MeshCore
import MeshTestKit
import Testing

/// A pass told that only a few peer records changed works out and applies only those peers.
/// After each such pass, a pass that reads the device, routes and rules back and computes
/// everything must find nothing left to do.
@Suite struct PartialPasses {
    func record(_ n: Int, key: String? = nil, cidrs: [String]? = nil) -> PeerRecord {
        PeerRecord(node: "n\(n)", publicKey: PublicKey.fixture(key ?? "n\(n)").base64, keyGeneration: 1,
                   endpoint: "192.168.77.1\(n):51830", allowedIPs: cidrs ?? ["10.244.\(n).0/24"], claimRevision: Revision(n))
    }

    func changes(_ nodes: Int...) -> ViewChanges {
        var changes = ViewChanges()
        for n in nodes { changes.add(.must("n\(n)")) }
        return changes
    }

    @Test func partialPassesLeaveWhatAFullPassWould() async throws {
        let node = await SimNode(index: 1, store: InMemoryDatastore())
        let reconciler = Reconciler(settings: node.settings, keys: node.keys, devices: node.devices, routing: node.routing,
                                    logger: node.logger)
        var view = MeshView(config: ClusterConfig(enabled: true, strict: true), pools: [.must("10.244.0.0/16"), .must("10.250.0.0/24")],
                            peers: Dictionary(uniqueKeysWithValues: (1...6).map { (NodeName.must("n\($0)"), record($0)) }))
        var parsed = PeerParseCache()
        var report = try await reconciler.reconcile(view, changes: .everything, removeUnknownPeers: true, parsed: &parsed)
        #expect(!report.partial && report.peerChanges == 5)

        // Each step: a change to the view, the nodes it touched, and whether a partial pass can take it.
        let steps: [(String, (inout MeshView) -> Void, ViewChanges, Bool)] = [
            ("n3 has a new key", { $0.peers[.must("n3")] = self.record(3, key: "n3-new") }, changes(3), true),
            ("n4 and n5 swap CIDRs", {
                $0.peers[.must("n4")] = self.record(4, cidrs: ["10.244.5.0/24"])
                $0.peers[.must("n5")] = self.record(5, cidrs: ["10.244.4.0/24"])
            }, changes(4, 5), true),
            ("n6 takes a pool's whole range", { $0.peers[.must("n6")] = self.record(6, cidrs: ["10.250.0.0/24"]) }, changes(6), true),
            ("n6 leaves", { $0.peers[.must("n6")] = nil }, changes(6), true),
            ("n7 joins with an IPv6 CIDR", { $0.peers[.must("n7")] = self.record(7, cidrs: ["10.244.7.0/24", "fd00:0:0:7::/64"]) },
             changes(7), true),
            ("n2 takes n3's key", { $0.peers[.must("n2")] = self.record(2, key: "n3-new") }, changes(2), false),
            ("n2 is repaired", { $0.peers[.must("n2")] = self.record(2) }, changes(2), false),
            ("n2 has a new key", { $0.peers[.must("n2")] = self.record(2, key: "n2-new") }, changes(2), true),
            ("encryption turns off", { $0.config?.enabled = false }, changes(), false),
        ]
        for (name, change, changed, partial) in steps {
            change(&view)
            report = try await reconciler.reconcile(view, changes: changed, removeUnknownPeers: true, known: report.known, parsed: &parsed)
            #expect(report.partial == partial, "\(name)")
            var fresh = PeerParseCache()
            let check = try await reconciler.reconcile(view, removeUnknownPeers: true, parsed: &fresh)
            #expect(!check.changed, "\(name): a full pass still changed \(check.peerChanges) peers, \(check.routeChanges) routes, \(check.ruleChanges) rules")
        }
        #expect(report.tornDown)
    }
}
