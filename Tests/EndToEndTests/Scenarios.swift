import Foundation
import MeshCore
import MeshLab
import MeshTestKit
import Testing

/// The end-to-end scenarios, each a step on a running cluster. The individual tests run one
/// each on a fresh cluster; ``EndToEnd/theWholeStoryOnOneCluster()`` runs them in a row on one
/// cluster, which is how the kernel VM (20–30× slower under emulation) runs them all in budget.
enum Scenario {
    /// Before `enable`: the fabric carries the marker in clear (the capture can see it).
    static func plainBeforeEnable(_ cluster: MeshCluster) async throws {
        let lab = cluster.lab
        let plain = try await offload {
            try cluster.captureTransfer(from: lab.nodes[0].pods[0], to: lab.nodes[2].pods[1], marker: "PLAINTEXT-MARKER-1")
        }
        #expect(plain.markerSeen, "\(plain)")
        #expect(!plain.violations.isEmpty)
    }

    /// `enable`, then: every pod reaches every other, the wire holds only WireGuard between node
    /// addresses and never the marker, same-node traffic stays off the fabric, and the data
    /// plane, status, and HTTP endpoints of n1 look as documented.
    static func enableAndProve(_ cluster: MeshCluster) async throws {
        let lab = cluster.lab
        let (a, b) = (lab.nodes[0].pods[0], lab.nodes[2].pods[1])
        let enable = try await offload { try cluster.cli(["enable"] + cluster.waitFlags) }
        #expect(enable.succeeded, "\(enable)")
        let failures = try await offload { try lab.pingAll(count: 3) }
        #expect(failures.isEmpty, "\(describe(failures))")
        let evidence = try await offload { try cluster.captureTransfer(from: a, to: b, marker: "SECRET-MARKER-2") }
        #expect(evidence.encrypted, "\(evidence)")
        #expect(!evidence.markerSeen)
        #expect(evidence.violations.isEmpty)
        // Every flow is WireGuard between two nodes, or (etcd) a node talking to the datastore.
        let controlPlane = cluster.controlPlane
        let dataFlows = evidence.report.flows.keys.filter { flow in
            !controlPlane.contains { ($0.address == flow.destination && $0.port == flow.destinationPort)
                                     || ($0.address == flow.source && $0.port == flow.sourcePort) }
        }
        #expect(dataFlows.allSatisfy { $0.ipProtocol == .udp && lab.nodeAddresses.contains($0.source) && lab.nodeAddresses.contains($0.destination) },
                "\(dataFlows)")

        // Same-node traffic stays off the fabric and plain (throw route for own CIDR). WireGuard
        // between nodes may cross meanwhile (a handshake); nothing of the two local pods does.
        let (l1, l2) = (lab.nodes[0].pods[0], lab.nodes[0].pods[1])
        let local = try await offload { try cluster.captureTransfer(from: l1, to: l2, marker: "LOCAL-MARKER") }
        #expect(local.stream.intact && !local.markerSeen && local.violations.isEmpty, "\(local)")
        #expect(!local.report.frames.contains { $0.ipv4.map { [$0.source, $0.destination].contains(l1.address) } ?? false })

        // The node itself reaches remote pods through the tunnel (its source is the tunnel address).
        let fromNode = try await offload { try lab.ping(from: lab.nodes[0], to: b.address, count: 3) }
        #expect(fromNode.received == 3, "\(fromNode)")

        // What the data plane looks like on n1.
        let n1 = lab.nodes[0]
        let routes = try cluster.tableRoutes(n1)
        #expect(routes.contains("10.244.2.0/24 dev meshguard0"), "\(routes)")
        #expect(routes.contains("10.244.3.0/24 dev meshguard0"))
        #expect(routes.contains("throw 10.244.1.0/24"))
        #expect(try cluster.rules(n1).contains("95:\tnot from all fwmark 0x2000/0x2000 lookup 51830"))
        let link = try lab.run(in: n1, ["ip", "-d", "-o", "link", "show", "meshguard0"]).checked().stdout
        #expect(link.contains("mtu 1440"), "\(link)")
        #expect(link.contains(testBackend == .kernel ? "wireguard" : "tun"), "\(link)")

        // Status: every path encrypted, handshakes and bytes recorded.
        let status = try await offload { try cluster.status() }
        #expect(status.enabled && status.encryptedPaths == 6 && status.plaintextPaths.isEmpty, "\(status)")
        #expect(status.nodes.allSatisfy { $0.standing == .accepted && $0.backend == testBackend && $0.inSync == true })

        // The agent's HTTP endpoints, reached from the fabric.
        let health = try lab.httpGet(from: lab.fabric, address: n1.address, port: cluster.options.httpPort, path: "/healthz")
        #expect(health.status == 200)
        let ready = try lab.httpGet(from: lab.fabric, address: n1.address, port: cluster.options.httpPort, path: "/readyz")
        #expect(ready.status == 200, "\(ready.body)")
        let metrics = try lab.httpGet(from: lab.fabric, address: n1.address, port: cluster.options.httpPort, path: "/metrics")
        #expect(metrics.body.contains("meshguard_peers_programmed 2"), "\(metrics.body.prefix(2000))")
        #expect(metrics.body.contains("meshguard_peer_rx_bytes{peer=\"n3\"}"))
        #expect(metrics.body.contains("meshguard_peer_last_handshake_seconds{peer=\"n2\"}"))
        #expect(metrics.body.contains("meshguard_backend_info{backend=\"\(testBackend.rawValue)\"} 1"))
        #expect(metrics.body.contains("meshguard_apply_duration_seconds"))
    }

    /// n1's agent is killed with SIGKILL and restarted while a pod pings n2 every 50 ms: not
    /// one ping is lost, and the restarted agent changes nothing on the device.
    static func killAgentLosesNoPacket(_ cluster: MeshCluster) async throws {
        let lab = cluster.lab
        let (a, b) = (lab.nodes[0].pods[0], lab.nodes[1].pods[0])
        let n1 = lab.nodes[0]
        // 200 pings, one every 50 ms (10 s natively), across the kill and the restart.
        async let pings = offload { try lab.ping(from: a, to: b.address, count: 200, interval: .milliseconds(50)) }
        try await Task.sleep(for: .seconds(1))
        let agent = try #require(cluster.agent(n1))
        agent.signal(SIGKILL)
        #expect(agent.wait(timeout: LabTime.scaled(.seconds(5))) != nil)
        try await Task.sleep(for: .seconds(1))
        try cluster.startAgent(n1)
        try await offload {
            try cluster.wait("restarted agent in sync") {
                try lab.httpGet(from: lab.fabric, address: n1.address, port: cluster.options.httpPort, path: "/readyz").status == 200
            }
        }
        let result = try await pings
        #expect(result.transmitted == 200 && result.received == 200, "\(result)")
        let log = try #require(cluster.agent(n1)).log()
        let afterRestart = log.components(separatedBy: "agent starting").last ?? ""
        #expect(!afterRestart.contains("device updated"), "\(afterRestart)")
    }

    /// Four bad claims (all-zero key, a CIDR of n2, malformed JSON, 0.0.0.0/0) are rejected with
    /// their reasons; n1–n3 keep working, encrypted. The bad claims are removed afterwards.
    static func badClaimsHarmNoOne(_ cluster: MeshCluster) async throws {
        let lab = cluster.lab
        let zeroKey = Data(repeating: 0, count: 32).base64EncodedString()
        let badClaims: [(String, String, String)] = [
            ("n7", #"{"node":"n7","publicKey":"\#(zeroKey)","keyGeneration":1,"address":"192.168.77.17","listenPort":51830,"podCIDRs":["10.244.7.0/24"]}"#,
             "the key is all zeros"),
            ("n8", #"{"node":"n8","publicKey":"\#(Data(repeating: 8, count: 32).base64EncodedString())","keyGeneration":1,"address":"192.168.77.18","listenPort":51830,"podCIDRs":["10.244.2.0/25"]}"#,
             "overlaps 10.244.2.0/24 of node n2"),
            ("n9", #"{"node":"n9", "publicKey": "#, "not valid JSON"),
            ("n6", #"{"node":"n6","publicKey":"\#(Data(repeating: 6, count: 32).base64EncodedString())","keyGeneration":1,"address":"192.168.77.16","listenPort":51830,"podCIDRs":["0.0.0.0/0"]}"#,
             "claims the whole address space"),
        ]
        for (node, value, _) in badClaims {
            let put = try await offload { try cluster.cli(["datastore", "put", "/meshguard/v1/claims/\(node)", value]) }
            #expect(put.succeeded, "\(put)")
        }
        try await offload {
            try cluster.wait("all four rejected") { try cluster.status().nodes.filter { $0.standing == .rejected }.count == 4 }
        }
        let status = try await offload { try cluster.status() }
        for (node, _, reason) in badClaims {
            let entry = status.nodes.first { $0.name == node }
            #expect(entry?.reasons.contains { $0.contains(reason) } == true, "\(node): \(entry?.reasons ?? [])")
        }
        let good = Set(lab.nodes.map(\.name))
        #expect(status.nodes.filter { good.contains($0.name) }.allSatisfy { $0.standing == .accepted })
        // Agents settle after the new throw routes: each good node's status must report a
        // pass that saw the verdicts (an older status may still say "in sync").
        let verdictsRevision = try await offload { try cluster.latestRevision(under: "/meshguard/v1/verdicts/") }
        try await offload {
            try cluster.wait("the good nodes to apply the verdicts of revision \(verdictsRevision)") {
                try cluster.status().nodes.filter { good.contains($0.name) }.allSatisfy {
                    $0.inSync == true && ($0.appliedRevision ?? 0) >= verdictsRevision
                }
            }
        }
        let failures = try await offload { try lab.pingAll(count: 2) }
        #expect(failures.isEmpty, "\(describe(failures))")
        let evidence = try await offload {
            try cluster.captureTransfer(from: lab.nodes[1].pods[0], to: lab.nodes[0].pods[0], marker: "AFTER-BAD-CLAIMS")
        }
        #expect(evidence.encrypted, "\(evidence)")
        // n7's valid CIDR (bad key) falls back to throw: visible in every node's table.
        #expect(try cluster.tableRoutes(lab.nodes[0]).contains("throw 10.244.7.0/24"))

        for (node, _, _) in badClaims {
            _ = try await offload { try cluster.cli(["datastore", "delete", "/meshguard/v1/claims/\(node)"]) }
        }
        try await offload {
            try cluster.wait("bad claims gone") { try cluster.status().nodes.map(\.name).sorted() == good.sorted() }
        }
    }

    /// `node remove` of the last node: refused while its agent runs; once the agent stops the
    /// node is silent (record kept, traffic flows); after removal the others drop its peer.
    static func removeLastNode(_ cluster: MeshCluster) async throws {
        let lab = cluster.lab
        let gone = lab.nodes[lab.nodes.count - 1]
        let timeout = ["--timeout", "\(LabTime.scaled(seconds: 30))"]
        let refused = try await offload { try cluster.cli(["node", "remove", gone.name] + timeout) }
        #expect(!refused.succeeded && refused.stderr.contains("still has a live claim"), "\(refused)")

        try #require(cluster.agent(gone)).signal(SIGTERM)
        try await offload {
            try cluster.wait("\(gone.name) silent", timeout: .seconds(30)) {
                try cluster.status().nodes.first { $0.name == gone.name }?.standing == .silent
            }
        }
        #expect(try await offload { try lab.ping(from: lab.nodes[0].pods[0], to: gone.pods[0].address, count: 3) }.received == 3)

        let removed = try await offload { try cluster.cli(["node", "remove", gone.name] + timeout) }
        #expect(removed.succeeded, "\(removed)")
        let staying = lab.nodes.dropLast()
        try await offload {
            try cluster.wait("the others drop \(gone.name)") {
                let status = try cluster.status()
                return status.nodes.map(\.name) == staying.map(\.name)
                    && status.nodes.allSatisfy { $0.peersProgrammed == staying.count - 1 }
            }
        }
        for node in staying {
            let routes = try cluster.tableRoutes(node)
            #expect(!routes.contains("\(gone.podCIDR) dev"), "\(node.name): \(routes)")
        }
        // Not to or from the removed node: each of its 16 pairs would wait out the reply timeout
        // (4 minutes of the kernel VM's run).
        let failures = try await offload { try lab.pingAll(count: 2, among: Array(staying)) }
        #expect(failures.isEmpty, "\(describe(failures))")
    }

    /// `disable`: every running agent removes rule, routes and device; pods of those nodes
    /// talk in plain text again, visibly on the wire.
    static func disableRestoresPlain(_ cluster: MeshCluster, nodes: [LabNode]) async throws {
        let lab = cluster.lab
        let disable = try await offload { try cluster.cli(["disable"] + cluster.waitFlags) }
        #expect(disable.succeeded, "\(disable)")
        for node in nodes {
            #expect(try !cluster.rules(node).contains("lookup 51830"))
            #expect(try cluster.tableRoutes(node).isEmpty)
            #expect(try !lab.run(in: node, ["ip", "link", "show", "meshguard0"]).succeeded)
            #expect(cluster.deviceToken(on: node) == nil)
        }
        let failures = try await offload { try lab.pingAll(count: 2, among: nodes) }
        #expect(failures.isEmpty, "\(describe(failures))")
        let plain = try await offload {
            try cluster.captureTransfer(from: nodes[0].pods[0], to: nodes[1].pods[0], marker: "PLAIN-AGAIN")
        }
        #expect(plain.markerSeen && plain.stream.intact, "\(plain)")
        let status = try await offload { try cluster.status() }
        #expect(!status.enabled && status.plaintextPaths.count == nodes.count * (nodes.count - 1))
    }
}
