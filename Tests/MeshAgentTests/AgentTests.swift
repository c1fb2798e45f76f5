import Logging
import MeshAgent
import MeshCodec
import MeshController
import MeshCore
import MeshTestKit
import Testing

@Suite struct AgentLoop {
    @Test func threeNodesConvergeAndDisableTearsDown() async throws {
        let store = InMemoryDatastore()
        let nodes = [await SimNode(index: 1, store: store), await SimNode(index: 2, store: store), await SimNode(index: 3, store: store)]
        let agents = nodes.map { $0.makeAgent() }
        let controller = makeController(store)
        try await running([controller] + agents) {
            // Claims are accepted before encryption is on; nothing is programmed yet.
            try await eventually("three accepted peers") { try await store.list(prefix: StoreKeys.peersPrefix).items.count == 3 }
            #expect(await nodes[0].devices.devices.isEmpty)

            try await enable(store)
            for node in nodes {
                let others = Set(nodes.filter { $0 !== node }.map(\.keys.publicKey))
                try await eventually("\(node.name) programs its two peers") { await node.peerKeys() == others }
                try await eventually("\(node.name) routes") { await node.routes().count == 4 }
            }
            let n1 = nodes[0]
            #expect(await n1.routes() == [
                "throw 10.244.0.0/16 table 51830", "throw 10.244.1.0/24 table 51830",
                "10.244.2.0/24 dev meshguard0 table 51830", "10.244.3.0/24 dev meshguard0 table 51830",
            ])
            #expect(await n1.routing.ruleList.map(\.description) == ["95: not from all fwmark 0x2000/0x2000 lookup 51830"])
            let link = try #require(await n1.routing.linkTable["meshguard0"])
            #expect(link.mtu == 1440 && link.isUp)
            #expect(link.addresses == [InterfaceAddress(address: .must("10.244.1.1"), prefixLength: 32)])
            let device = try #require(await n1.devices.devices["meshguard0"])
            #expect(device.listenPort == 51830 && device.fwmark == 0x2000 && device.privateKey == n1.keys.privateKey)
            try await eventually("agents ready") { agents.allSatisfy { $0.health.snapshot.ready } }

            // Status reaches the store, with peers by node name.
            try await eventually("status of n1 lists n2 and n3") {
                guard let kv = try await store.get(StoreKeys.status(.must("n1"))),
                      let status = try? RecordCodec.decode(NodeStatusRecord.self, from: kv.value, key: kv.key) else { return false }
                return status.peers.map(\.node) == ["n2", "n3"] && status.enabled && status.backend == .userspace
            }

            try await disable(store)
            for node in nodes {
                try await eventually("\(node.name) tears down") {
                    let device = await node.devices.devices["meshguard0"]
                    let rules = await node.routing.ruleList
                    let routes = await node.routes()
                    return device == nil && rules.isEmpty && routes.isEmpty
                }
            }
            // The underlay is never touched.
            #expect(await n1.routing.linkTable["eth0"] != nil)
        }
    }

    /// Above `statusPeerLimit` a status carries sums, not a list; `meshguard status` still
    /// proves each path from the revision the agent applied.
    @Test func aStatusAboveThePeerLimitCarriesTotalsAndStillProvesEveryPath() async throws {
        let (store, nodes, controller) = try await enabledMesh(nodes: 4)
        let agents = nodes.map { $0.makeAgent(statusPeerLimit: $0.index == 1 ? 2 : 128) }
        try await running([controller] + agents) {
            for node in nodes { try await eventually("\(node.name) has three peers") { await node.peerKeys().count == 3 } }
            func records() async throws -> ClusterRecords {
                var records = ClusterRecords(config: ClusterConfig(enabled: true, strict: false), pools: [], leader: nil,
                                             claims: [:], peers: [:], verdicts: [:], statuses: [:])
                for kv in try await store.list(prefix: StoreKeys.all).items {
                    if let n = StoreKeys.nodeSuffix(of: kv.key, prefix: StoreKeys.peersPrefix) {
                        records.peers[n] = try RecordCodec.decode(PeerRecord.self, from: kv.value, key: kv.key)
                        records.peerRevisions[n] = kv.modRevision
                        records.claimKeys.insert(n)
                    } else if let n = StoreKeys.nodeSuffix(of: kv.key, prefix: StoreKeys.statusPrefix) {
                        records.statuses[n] = try RecordCodec.decode(NodeStatusRecord.self, from: kv.value, key: kv.key)
                    }
                }
                return records
            }
            try await eventually("every path proven encrypted") { try await buildClusterReport(records()).encryptedPaths == 12 }
            let n1 = try #require(try await records().statuses["n1"])
            #expect(n1.peers.isEmpty)
            #expect(n1.totals?.count == 3 && n1.totals?.listed == false && n1.incompletePeers == nil)
            let n2 = try #require(try await records().statuses["n2"])
            #expect(n2.peers.map(\.node) == ["n1", "n3", "n4"] && n2.totals?.listed == true)
        }
    }

    @Test func restartWithIdenticalStateChangesNothing() async throws {
        let (_, nodes, controller) = try await enabledMesh(nodes: 2)
        let n1 = nodes[0]
        try await running([controller, nodes[1].makeAgent()]) {
            try await running([n1.makeAgent()]) {
                try await eventually("n1 has n2") { await n1.peerKeys() == [nodes[1].keys.publicKey] }
                try await eventually("n1 routes") { await n1.routes().count == 3 }
                try await eventually("n1 rule") { await !n1.routing.ruleList.isEmpty }
            }
            // The agent is gone; the data plane stays. A new agent re-attaches.
            let patches = await n1.devices.appliedPatches.count
            await n1.routing.resetCalls()
            let health = AgentHealth()
            try await running([n1.makeAgent(health: health)]) {
                try await eventually("restarted agent ready") { health.snapshot.ready }
                try await Task.sleep(for: .milliseconds(500))  // a couple of resync passes
            }
            #expect(await n1.devices.appliedPatches.count == patches)
            let calls = await n1.routing.calls
            #expect(calls[.replaceRoute] == nil && calls[.deleteRoute] == nil && calls[.addRule] == nil
                    && calls[.deleteRule] == nil && calls[.setLink] == nil)
        }
    }

    @Test func onePeerChangeSendsOnlyThatPeer() async throws {
        let (_, nodes, controller) = try await enabledMesh(nodes: 3)
        let n1 = nodes[0]
        try await running([controller, n1.makeAgent(), nodes[1].makeAgent()]) {
            try await eventually("n1 has n2") { await n1.peerKeys() == [nodes[1].keys.publicKey] }
            let before = await n1.devices.appliedPatches.count
            try await running([nodes[2].makeAgent()]) {
                try await eventually("n1 has n2 and n3") { await n1.peerKeys().count == 2 }
                let patches = await n1.devices.appliedPatches.dropFirst(before)
                #expect(patches.count == 1)
                #expect(patches.first?.peers.map(\.publicKey) == [nodes[2].keys.publicKey])
                #expect(patches.first?.privateKey == nil)
            }
        }
    }

    @Test func passesBetweenResyncsPlanAgainstTheLastAppliedStateWithoutReadingAnythingBack() async throws {
        let (store, nodes, controller) = try await enabledMesh(nodes: 3)
        let n1 = nodes[0]
        // No resync and no periodic status within the test: every read would be a change's.
        let quiet = n1.makeAgent(resyncInterval: .seconds(3600), statusInterval: .seconds(3600))
        try await running([controller, quiet, nodes[1].makeAgent()]) {
            try await eventually("n1 has n2") { await n1.peerKeys() == [nodes[1].keys.publicKey] }
            let reads = await n1.devices.calls[.read] ?? 0
            let dumps = await n1.routing.calls.filter { [.links, .routes, .rules].contains($0.key) }
            try await running([nodes[2].makeAgent()]) {
                try await eventually("n1 has n2 and n3") { await n1.peerKeys().count == 2 }
                // The status written for the change lists n3 from the state the pass left.
                try await eventually("status of n1 lists n2 and n3") {
                    guard let kv = try await store.get(StoreKeys.status(.must("n1"))),
                          let status = try? RecordCodec.decode(NodeStatusRecord.self, from: kv.value, key: kv.key) else { return false }
                    return status.peers.map(\.node) == ["n2", "n3"]
                }
            }
            #expect(await n1.devices.calls[.read] ?? 0 == reads, "a change read the device back")
            #expect(await n1.routing.calls.filter { [.links, .routes, .rules].contains($0.key) } == dumps,
                    "a change dumped links, routes or rules")
            let routes = await n1.routes()
            #expect(routes.contains("10.244.3.0/24 dev meshguard0 table 51830"), "\(routes)")
        }
    }

    @Test func aPeerAndARouteRemovedBehindTheAgentsBackAreBackAfterAResync() async throws {
        let (_, nodes, controller) = try await enabledMesh(nodes: 2)
        let n1 = nodes[0]
        try await running([controller, n1.makeAgent(), nodes[1].makeAgent()]) {
            try await eventually("n1 has n2") { await n1.peerKeys() == [nodes[1].keys.publicKey] }
            try await eventually("n1 routes") { await n1.routes().contains("10.244.2.0/24 dev meshguard0 table 51830") }
            try await n1.devices.apply(DevicePatch(peers: [.removal(of: nodes[1].keys.publicKey)]), to: "meshguard0")
            try await n1.routing.deleteRoute(RouteSpec(destination: .must("10.244.2.0/24"), table: 51830, target: .device("meshguard0")))
            #expect(await n1.peerKeys().isEmpty)
            // Nothing changed in the store: only the resync (every 200 ms here) can see it.
            try await eventually("n2 back on n1's device") { await n1.peerKeys() == [nodes[1].keys.publicKey] }
            try await eventually("n2's route back") { await n1.routes().contains("10.244.2.0/24 dev meshguard0 table 51830") }
        }
    }

    @Test func storeDownAtStartLeavesTheDataPlaneAlone() async throws {
        let store = InMemoryDatastore()
        let n1 = await SimNode(index: 1, store: store)
        // A data plane left by a previous agent run, with a peer the store has never heard of.
        try await n1.devices.ensureDevice(named: "meshguard0")
        let stranger = PublicKey.fixture("stranger")
        try await n1.devices.apply(DevicePatch(privateKey: n1.keys.privateKey, peers: [PeerPatch(publicKey: stranger, allowedIPs: [.must("10.244.9.0/24")])]),
                                   to: "meshguard0")
        await n1.routing.addLink("meshguard0")
        try await n1.routing.replaceRoute(RouteSpec(destination: .must("10.244.9.0/24"), table: 51830, target: .device("meshguard0")))
        await store.makeUnavailable()
        let health = AgentHealth()
        try await running([n1.makeAgent(health: health)]) {
            try await Task.sleep(for: .milliseconds(600))
            #expect(!health.snapshot.ready)
            #expect(health.snapshot.reason.contains("has not read the datastore"))
            #expect(await n1.peerKeys() == [stranger])
            #expect(await n1.routes() == ["10.244.9.0/24 dev meshguard0 table 51830"])
            await store.restore()
            try await enable(store)
            try await eventually("ready once the store is back") { health.snapshot.ready }
            // After a full read the stranger is not in the mesh and goes.
            try await eventually("stranger removed") { await n1.peerKeys().isEmpty }
        }
    }

    @Test func deviceThatDiesIsRecreatedAndReprogrammed() async throws {
        let (_, nodes, controller) = try await enabledMesh(nodes: 2)
        let n1 = nodes[0]
        try await running([controller, n1.makeAgent(), nodes[1].makeAgent()]) {
            try await eventually("n1 has n2") { await n1.peerKeys() == [nodes[1].keys.publicKey] }
            try await eventually("n1 routes") { await n1.routes().count == 3 }
            await n1.devices.vanish("meshguard0")
            #expect(await n1.routes().count == 2)  // the kernel drops routes through a vanished link
            try await eventually("device back with its peer") { await n1.peerKeys() == [nodes[1].keys.publicKey] }
            try await eventually("routes back") { await n1.routes().count == 3 }
        }
    }

    @Test func corruptRecordsKeepTheLastGoodState() async throws {
        let (store, nodes, controller) = try await enabledMesh(nodes: 2)
        let n1 = nodes[0]
        let health = AgentHealth()
        try await running([controller, n1.makeAgent(health: health), nodes[1].makeAgent()]) {
            try await eventually("n1 has n2") { await n1.peerKeys() == [nodes[1].keys.publicKey] }
            try await store.put(StoreKeys.config, value: Array("{\"enabled\": tru".utf8), lease: nil)
            try await eventually("the bad config is reported") { health.snapshot.lastError?.contains("not valid JSON") == true }
            #expect(await n1.peerKeys() == [nodes[1].keys.publicKey])
            #expect(await n1.devices.devices["meshguard0"] != nil)
        }
    }

    @Test func strictModeMakesUnacceptedCIDRsUnreachable() async throws {
        let store = InMemoryDatastore()
        let n1 = await SimNode(index: 1, store: store)
        let controller = makeController(store)
        try await enable(store, strict: true)
        // n4 claims with an all-zero key: rejected, its CIDR must not fall back to plaintext.
        let bad = ClaimRecord(node: "n4", publicKey: Base64.encode([UInt8](repeating: 0, count: 32)), address: "192.168.77.14",
                              listenPort: 51830, podCIDRs: ["10.244.4.0/24"])
        try await store.put(StoreKeys.claim(.must("n4")), value: RecordCodec.encode(bad), lease: nil)
        try await running([controller, n1.makeAgent()]) {
            try await eventually("strict routes") {
                await n1.routes() == ["unreachable 10.244.0.0/16 table 51830", "throw 10.244.1.0/24 table 51830",
                                      "unreachable 10.244.4.0/24 table 51830"]
            }
        }
    }
}
