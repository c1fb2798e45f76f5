import Foundation
import MeshCore
import MeshLab
import MeshTestKit
import Testing

/// Datastore faults with traffic running between pods, on a 3-member etcd cluster in the fabric
/// namespace: the data plane keeps encrypting, nothing is torn down, and everything converges
/// once etcd is back.
@Suite(.serialized, .enabled(if: canRunEndToEnd && EtcdCluster.isInstalled,
                             "needs root, tcpdump, ping, wireguard-go (or kernel WireGuard) and etcd-server"))
struct EtcdFaultTests {
    /// A valid claim of a node without an agent (n4): the controller accepts it and every
    /// agent programs its peer — churn that has to travel through the store.
    static func claimOfN4(_ cluster: MeshCluster) -> String {
        let key = Data(repeating: 4, count: 32).base64EncodedString()
        return #"{"node":"n4","publicKey":"\#(key)","keyGeneration":1,"address":"192.168.77.14","listenPort":\#(cluster.options.wireGuardPort),"podCIDRs":["10.244.4.0/24"]}"#
    }

    static func everyAgentReady(_ cluster: MeshCluster, nodes: [LabNode]? = nil) throws -> Bool {
        try (nodes ?? cluster.lab.nodes).allSatisfy {
            try cluster.lab.httpGet(from: cluster.lab.fabric, address: $0.address, port: cluster.options.httpPort, path: "/readyz").status == 200
        }
    }

    @Test func killingTheEtcdLeaderDuringChurnLosesNoPacket() async throws {
        try await withCluster(configure: { $0.etcdMembers = 3 }) { cluster in
            let lab = cluster.lab
            let etcd = try #require(cluster.etcd)
            let (a, b) = (lab.nodes[0].pods[0], lab.nodes[2].pods[0])
            // 300 pings every 50 ms (15 s) across the leader's death and the churn.
            async let pings = offload { try lab.ping(from: a, to: b.address, count: 300, interval: .milliseconds(50)) }
            try await Task.sleep(for: .seconds(1))
            let leader = try etcd.leader()
            let put = try await offload { try cluster.cli(["datastore", "put", "/meshguard/v1/claims/n4", Self.claimOfN4(cluster)]) }
            #expect(put.succeeded, "\(put)")
            etcd.kill(leader)
            // Churn while the cluster elects a new leader: the controller accepts n4, agents
            // program it, then n4 is removed again.
            try await offload {
                try cluster.wait("n4 accepted and programmed on n1", timeout: .seconds(30)) {
                    try cluster.tableRoutes(lab.nodes[0]).contains("10.244.4.0/24 dev meshguard0")
                }
            }
            let newLeader = try etcd.leader()
            #expect(newLeader.name != leader.name)
            // A CLI request may land in the new leader's first seconds on a busy machine and time
            // out with a clear error, as an operator would see; like an operator, retry.
            try await offload {
                var last: CommandResult?
                do {
                    try cluster.wait("n4's claim deleted", timeout: .seconds(30)) {
                        let deleted = try cluster.cli(["datastore", "delete", "/meshguard/v1/claims/n4"])
                        last = deleted
                        return deleted.succeeded && (deleted.stdout.contains("deleted") || deleted.stdout.contains("not found"))
                    }
                } catch {
                    Issue.record("\(error); the last attempt: \(last.map { "\($0)" } ?? "none")\n\(cluster.logs())")
                    throw error
                }
                try cluster.wait("n4 removed", timeout: .seconds(60)) {
                    try cluster.cli(["node", "remove", "n4", "--timeout", "\(LabTime.scaled(seconds: 30))"]).succeeded
                }
            }
            try await offload {
                try cluster.wait("n4 gone from n1", timeout: .seconds(30)) {
                    try !cluster.tableRoutes(lab.nodes[0]).contains("10.244.4.0/24")
                }
            }
            let result = try await pings
            #expect(result.transmitted == 300 && result.received == 300, "\(result)")
            try await offload {
                try cluster.wait("every agent in sync") { try Self.everyAgentReady(cluster) }
            }
            try etcd.restart(leader)
        }
    }

    @Test func aMinuteWithoutEtcdTearsNothingDownAndConvergesWithinSecondsOfItsReturn() async throws {
        try await withCluster(configure: { $0.etcdMembers = 3 }) { cluster in
            let lab = cluster.lab
            let etcd = try #require(cluster.etcd)
            let (n1, n3) = (lab.nodes[0], lab.nodes[2])
            let (a, b) = (n1.pods[0], lab.nodes[1].pods[0])
            let routesBefore = try cluster.tableRoutes(n1)
            let outage = LabTime.scaled(.seconds(60))
            // A ping every 100 ms for the whole outage and a little more.
            let count = Int(outage / .milliseconds(100)) + 50
            async let pings = offload { try lab.ping(from: a, to: b.address, count: count, interval: .milliseconds(100)) }
            try await Task.sleep(for: .seconds(1))
            for member in etcd.members { etcd.kill(member) }
            let down = ContinuousClock.now

            // Agents notice and say so; the data plane stays as it was.
            try await offload {
                try cluster.wait("every agent reports not-ready", timeout: .seconds(20)) {
                    try lab.nodes.allSatisfy {
                        try lab.httpGet(from: lab.fabric, address: $0.address, port: cluster.options.httpPort, path: "/readyz").status == 503
                    }
                }
            }
            let evidence = try await offload {
                try cluster.captureTransfer(from: a, to: b, marker: "DURING-ETCD-OUTAGE")
            }
            #expect(evidence.encrypted && !evidence.markerSeen, "\(evidence)")
            #expect(try cluster.tableRoutes(n1) == routesBefore)

            // Changes meanwhile: a route of n1's table deleted by hand, and n3's agent restarted
            // (it must publish its claim and status once the store is back).
            _ = try lab.run(in: n1, ["ip", "route", "del", "10.244.2.0/24", "table", "51830"]).checked()
            try #require(cluster.agent(n3)).signal(SIGKILL)
            try cluster.startAgent(n3)

            let remaining = outage - (ContinuousClock.now - down)
            if remaining > .zero { try await Task.sleep(for: remaining) }
            try await offload { try etcd.restart(etcd.members) }
            let back = ContinuousClock.now
            // In sync: every agent ready, n1's table whole again, and every status record (written
            // by the agents once the store is back) saying so.
            try await offload {
                try cluster.wait("everything in sync after etcd's return", timeout: .seconds(20)) {
                    try Self.everyAgentReady(cluster) && cluster.tableRoutes(n1) == routesBefore
                        && cluster.status().nodes.allSatisfy { $0.standing == .accepted && $0.inSync == true && $0.agentRunning }
                }
            }
            let convergence = ContinuousClock.now - back
            #expect(convergence <= LabTime.scaled(.seconds(5)), "in sync \(convergence) after etcd's return")

            let result = try await pings
            #expect(result.transmitted == count && result.received == count, "\(result)")
        }
    }

    @Test func compactingTheStoreMakesALaggingAgentReListAndStayCorrect() async throws {
        try await withCluster(configure: { $0.etcdMembers = 1 }) { cluster in
            let lab = cluster.lab
            let etcd = try #require(cluster.etcd)
            let n1 = lab.nodes[0]
            let agent = try #require(cluster.agent(n1))
            // n1's agent is frozen while its watch connection breaks (etcd restarts), the store
            // changes and is compacted: when it thaws, its watch cannot resume from where it
            // stopped and must re-list.
            agent.signal(SIGSTOP)
            let member = etcd.members[0]
            etcd.kill(member)
            try await offload { try etcd.restart(member) }
            let put = try await offload { try cluster.cli(["datastore", "put", "/meshguard/v1/claims/n4", Self.claimOfN4(cluster)]) }
            #expect(put.succeeded, "\(put)")
            try await offload {
                try cluster.wait("n4 on n2", timeout: .seconds(30)) {
                    try cluster.tableRoutes(lab.nodes[1]).contains("10.244.4.0/24 dev meshguard0")
                }
            }
            let compact = try await offload { try cluster.cli(["datastore", "compact"]) }
            #expect(compact.succeeded, "\(compact)")
            agent.signal(SIGCONT)
            try await offload {
                try cluster.wait("n1 re-lists and programs n4", timeout: .seconds(30)) {
                    try cluster.tableRoutes(n1).contains("10.244.4.0/24 dev meshguard0") && Self.everyAgentReady(cluster)
                }
            }
            #expect(agent.log().contains("watch history compacted; re-listing"), "\(agent.log().suffix(3000))")
            let failures = try await offload { try lab.pingAll(count: 2) }
            #expect(failures.isEmpty, "\(describe(failures))")
        }
    }
}
