import Foundation
import MeshCore
import MeshLab
import MeshTestKit
import Testing

/// The built `meshguard` binary, run in network namespaces as an operator would. Serialized:
/// each test builds its own cluster and they share two CPU cores.
@Suite(.serialized, .enabled(if: canRunEndToEnd,
                             "needs root, tcpdump, ping and the backend (wireguard-go, or the kernel module in the VM); CI has them"))
struct EndToEnd {
    @Test func threeNodesEncryptEverythingOnTheWire() async throws {
        try await withCluster(enable: false) { cluster in
            let lab = cluster.lab
            let (a, b) = (lab.nodes[0].pods[0], lab.nodes[2].pods[1])
            let port = cluster.options.wireGuardPort
            // Before enable the capture shows the marker: the check below can fail.
            let plain = try await offload { try lab.captureTransfer(from: a, to: b, marker: "PLAINTEXT-MARKER-1", wireGuardPort: port) }
            #expect(plain.markerSeen, "\(plain)")
            #expect(!plain.violations.isEmpty)

            let enable = try await offload { try cluster.cli(["enable"] + cluster.waitFlags) }
            #expect(enable.succeeded, "\(enable)")
            let failures = try await offload { try lab.pingAll(count: 3) }
            #expect(failures.isEmpty, "\(failures.map { "\($0.0.name)→\($0.1.name): \($0.2)" })")
            let evidence = try await offload { try lab.captureTransfer(from: a, to: b, marker: "SECRET-MARKER-2", wireGuardPort: port) }
            #expect(evidence.encrypted, "\(evidence)")
            #expect(!evidence.markerSeen)
            #expect(evidence.violations.isEmpty)
            #expect(evidence.report.flows.keys.allSatisfy { $0.description.hasPrefix("udp 192.168.77.1") })

            // Same-node traffic stays off the fabric and plain (throw route for own CIDR).
            let local = try await offload { try lab.captureTransfer(from: lab.nodes[0].pods[0], to: lab.nodes[0].pods[1], marker: "LOCAL-MARKER", wireGuardPort: port) }
            #expect(local.stream.intact && local.report.ipv4Packets == 0)

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
            let link = try lab.run(in: n1, ["ip", "-o", "link", "show", "meshguard0"]).checked().stdout
            #expect(link.contains("mtu 1440"), "\(link)")

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
    }

    @Test func killingAnAgentLosesNoPacket() async throws {
        try await withCluster(nodes: 2) { cluster in
            let lab = cluster.lab
            let (a, b) = (lab.nodes[0].pods[0], lab.nodes[1].pods[0])
            let n1 = lab.nodes[0]
            // 200 pings, one every 50 ms (10 s), while n1's agent is killed and restarted.
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
            // The restart changed nothing on the device: the log says it re-attached and applied nothing.
            let log = try #require(cluster.agent(n1)).log()
            let afterRestart = log.components(separatedBy: "agent starting").last ?? ""
            #expect(!afterRestart.contains("device updated"), "\(afterRestart)")
        }
    }

    @Test func removingANodeDropsItsPeerEverywhere() async throws {
        try await withCluster { cluster in
            let lab = cluster.lab
            let n3 = lab.nodes[2]
            // Refused while its agent runs.
            let refused = try await offload { try cluster.cli(["node", "remove", "n3", "--timeout", "\(LabTime.scaled(seconds: 30))"]) }
            #expect(!refused.succeeded && refused.stderr.contains("still has a live claim"), "\(refused)")

            try #require(cluster.agent(n3)).signal(SIGTERM)
            // A silent agent: its claim expires, its peer record stays, traffic still flows.
            try await offload {
                try cluster.wait("n3 silent", timeout: .seconds(30)) { try cluster.status().nodes.first { $0.name == "n3" }?.standing == .silent }
            }
            #expect(try await offload { try lab.ping(from: lab.nodes[0].pods[0], to: n3.pods[0].address, count: 3) }.received == 3)

            let removed = try await offload { try cluster.cli(["node", "remove", "n3", "--timeout", "\(LabTime.scaled(seconds: 30))"]) }
            #expect(removed.succeeded, "\(removed)")
            try await offload {
                try cluster.wait("n1 and n2 drop n3") {
                    let status = try cluster.status()
                    return status.nodes.map(\.name) == ["n1", "n2"] && status.nodes.allSatisfy { $0.peersProgrammed == 1 }
                }
            }
            for node in lab.nodes.prefix(2) {
                let routes = try cluster.tableRoutes(node)
                #expect(!routes.contains("10.244.3.0/24 dev"), "\(node.name): \(routes)")
            }
            #expect(try await offload { try lab.pingAll(count: 2) }.filter { $0.0.nodeName != "n3" && $0.1.nodeName != "n3" }.isEmpty)
        }
    }

    @Test func aBadClaimIsRejectedAndHarmsNoOne() async throws {
        try await withCluster { cluster in
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
                try cluster.wait("all four rejected") {
                    try cluster.status().nodes.filter { $0.standing == .rejected }.count == 4
                }
            }
            let status = try await offload { try cluster.status() }
            for (node, _, reason) in badClaims {
                let entry = status.nodes.first { $0.name == node }
                #expect(entry?.reasons.contains { $0.contains(reason) } == true, "\(node): \(entry?.reasons ?? [])")
            }
            // n2 keeps its CIDR and everyone keeps working, encrypted (agents settle after the new throw routes).
            #expect(status.nodes.filter { ["n1", "n2", "n3"].contains($0.name) }.allSatisfy { $0.standing == .accepted })
            try await offload {
                try cluster.wait("n1-n3 in sync") {
                    try cluster.status().nodes.filter { ["n1", "n2", "n3"].contains($0.name) }.allSatisfy { $0.inSync == true }
                }
            }
            #expect(try await offload { try lab.pingAll(count: 2) }.isEmpty)
            let evidence = try await offload {
                try lab.captureTransfer(from: lab.nodes[1].pods[0], to: lab.nodes[0].pods[0], marker: "AFTER-BAD-CLAIMS",
                                        wireGuardPort: cluster.options.wireGuardPort)
            }
            #expect(evidence.encrypted, "\(evidence)")
            // n7's valid CIDR (bad key) falls back to throw: visible in every node's table.
            #expect(try cluster.tableRoutes(lab.nodes[0]).contains("throw 10.244.7.0/24"))
        }
    }

    @Test func disableRestoresPlainTraffic() async throws {
        try await withCluster { cluster in
            let lab = cluster.lab
            let disable = try await offload { try cluster.cli(["disable"] + cluster.waitFlags) }
            #expect(disable.succeeded, "\(disable)")
            for node in lab.nodes {
                #expect(try !cluster.rules(node).contains("lookup 51830"))
                #expect(try cluster.tableRoutes(node).isEmpty)
                #expect(try !lab.run(in: node, ["ip", "link", "show", "meshguard0"]).succeeded)
                #expect(cluster.deviceToken(on: node) == nil)
            }
            #expect(try await offload { try lab.pingAll(count: 2) }.isEmpty)
            let plain = try await offload {
                try lab.captureTransfer(from: lab.nodes[0].pods[0], to: lab.nodes[1].pods[0], marker: "PLAIN-AGAIN",
                                        wireGuardPort: cluster.options.wireGuardPort)
            }
            #expect(plain.markerSeen && plain.stream.intact, "\(plain)")
            let status = try await offload { try cluster.status() }
            #expect(!status.enabled && status.plaintextPaths.count == 6)
        }
    }

    @Test func aDeviceThatDiesIsRecreatedAndReprogrammed() async throws {
        try await withCluster(nodes: 2) { cluster in
            let lab = cluster.lab
            let n1 = lab.nodes[0]
            // wireguard-go killed (userspace) or the link deleted (kernel).
            let old = try cluster.destroyDevice(on: n1)
            try await offload {
                try cluster.wait("a new device on n1", timeout: .seconds(20)) {
                    if let token = cluster.deviceToken(on: n1) { return token != old }
                    return false
                }
            }
            try await offload {
                try cluster.wait("pods reach each other again", timeout: .seconds(20)) {
                    try lab.ping(from: n1.pods[0], to: lab.nodes[1].pods[0].address, count: 1).received == 1
                }
            }
            let evidence = try await offload {
                try lab.captureTransfer(from: n1.pods[0], to: lab.nodes[1].pods[0], marker: "AFTER-RESTART",
                                        wireGuardPort: cluster.options.wireGuardPort)
            }
            #expect(evidence.encrypted, "\(evidence)")
            #expect(try cluster.tableRoutes(n1).contains("10.244.2.0/24 dev meshguard0"))
        }
    }

    @Test func agentStartedBeforeTheDatastoreExistsWaitsAndThenJoins() async throws {
        try await withCluster(nodes: 2, startAgents: false) { cluster in
            let lab = cluster.lab
            for node in lab.nodes { try cluster.startAgent(node) }
            try await offload {
                try cluster.wait("agent answers /readyz") {
                    (try? lab.httpGet(from: lab.fabric, address: lab.nodes[0].address, port: cluster.options.httpPort, path: "/readyz")) != nil
                }
            }
            let notReady = try lab.httpGet(from: lab.fabric, address: lab.nodes[0].address, port: cluster.options.httpPort, path: "/readyz")
            #expect(notReady.status == 503)
            #expect(notReady.body.contains("does not exist"), "\(notReady.body)")
            #expect(cluster.agent(lab.nodes[0])?.isRunning == true)

            try cluster.startController()
            try await offload { try cluster.waitForAcceptance() }
            #expect(try await offload { try cluster.cli(["enable"] + cluster.waitFlags) }.succeeded)
            #expect(try await offload { try lab.pingAll(count: 2) }.isEmpty)
        }
    }

    @Test func standbyControllerTakesOverWithinOneLeaseTTL() async throws {
        try await withCluster(nodes: 2) { cluster in
            let lab = cluster.lab
            try cluster.startController("c2")
            try await offload { try cluster.wait("c1 leads") { try cluster.status().controller == "c1" } }
            let before = try cluster.tableRoutes(lab.nodes[0])
            let killed = ContinuousClock.now
            try #require(cluster.controller("c1")).signal(SIGKILL)
            try await offload {
                try cluster.wait("c2 leads", timeout: .seconds(20)) { try cluster.status().controller == "c2" }
            }
            let takeover = ContinuousClock.now - killed
            let ttl = Duration.seconds(cluster.options.controllerLeaseTTL)
            // Within one TTL of the death, plus the time this test takes to notice (status polls).
            #expect(takeover <= ttl + LabTime.scaled(.seconds(1)), "takeover took \(takeover)")
            #expect(try cluster.tableRoutes(lab.nodes[0]) == before)
            // The new leader does its job: a bad claim gets its verdict.
            _ = try await offload {
                try cluster.cli(["datastore", "put", "/meshguard/v1/claims/n5", #"{"broken"#])
            }
            try await offload {
                try cluster.wait("c2 judges a new claim") { try cluster.status().nodes.contains { $0.name == "n5" && $0.standing == .rejected } }
            }
        }
    }

    @Test func strictModeRefusesPlaintextToANodeWithoutAKey() async throws {
        try await withCluster(startAgents: false) { cluster in
            let lab = cluster.lab
            let (n1, n2, n3) = (lab.nodes[0], lab.nodes[1], lab.nodes[2])
            // n3 runs no agent: it has no key, so no encrypted path to its pods exists.
            try cluster.startController()
            try cluster.startAgent(n1)
            try cluster.startAgent(n2)
            try await offload {
                try cluster.wait("n1 and n2 accepted") {
                    try cluster.status().nodes.filter { $0.standing == .accepted }.map(\.name) == ["n1", "n2"]
                }
            }
            let strict = try await offload { try cluster.cli(["enable", "--strict"] + cluster.waitFlags) }
            #expect(strict.succeeded, "\(strict)")
            let routes = try cluster.tableRoutes(n1)
            #expect(routes.contains("unreachable 10.244.0.0/16"), "\(routes)")

            // To n3's pods: dropped, nothing in clear on the wire. To n2's pods: encrypted.
            let capture = try lab.startCapture()
            let blocked = try await offload { try lab.ping(from: n1.pods[0], to: n3.pods[0].address, count: 5) }
            let report = WireReport(try capture.stop())
            #expect(blocked.received == 0, "\(blocked)")
            // Only WireGuard between nodes may cross (n1 and n2 handshake now and then); nothing
            // to or from n3's pod, in clear or otherwise.
            #expect(report.onlyWireGuard(port: cluster.options.wireGuardPort, nodeAddresses: lab.nodeAddresses).isEmpty, "\(report)")
            #expect(!report.frames.contains { $0.ipv4.map { [$0.source, $0.destination].contains(n3.pods[0].address) } ?? false },
                    "\(report)")
            #expect(try await offload { try lab.ping(from: n1.pods[0], to: n2.pods[0].address, count: 3) }.received == 3)
            let status = try await offload { try cluster.status() }
            #expect(status.strict && status.plaintextPaths.isEmpty, "\(status.plaintextPaths)")

            // Fail-open mode: the same traffic falls back to plain routing, visibly in clear.
            let open = try await offload { try cluster.cli(["enable"] + cluster.waitFlags) }
            #expect(open.succeeded, "\(open)")
            #expect(try cluster.tableRoutes(n1).contains("throw 10.244.0.0/16"))
            let plain = try await offload {
                try lab.captureTransfer(from: n1.pods[0], to: n3.pods[0], marker: "FAIL-OPEN-MARKER", wireGuardPort: cluster.options.wireGuardPort)
            }
            #expect(plain.stream.intact && plain.markerSeen, "\(plain)")
            let encrypted = try await offload {
                try lab.captureTransfer(from: n1.pods[0], to: n2.pods[0], marker: "STILL-SECRET", wireGuardPort: cluster.options.wireGuardPort)
            }
            #expect(encrypted.encrypted, "\(encrypted)")
        }
    }
}
