// `meshguard-bench cluster`: the control plane with every part real. N `meshguard agent`
// processes, each in a node namespace of a lab with its own wireguard-go, share an etcd (in the
// fabric namespace, reached over the underlay) or a SQLite file with the real controller. New
// nodes publish claims with new keys one at a time; the figure is the time from the claim's
// write until every agent's status lists the new key as programmed on its device. The
// measuring side (`cluster-probe`) runs inside the fabric namespace, where the datastore is.

import Foundation
import MeshCore
import MeshLab

enum ClusterBenchmark {
    static func run(agents n: Int, store kind: ConvergenceBenchmark.Store, changes: Int, meshguard: String?) async throws -> Summary {
        let binary = try meshguard ?? ConvergenceBenchmark.siblingExecutable("meshguard")
        let bench = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        // Lab addresses: nodes are 192.168.77.(10+i), new nodes follow them; pod CIDRs are /24s.
        guard n + changes <= 240 else { throw BenchError("cluster: --agents plus --changes is at most 240 (one underlay /24)") }
        print("cluster: \(n) real meshguard agent processes (each in its own namespace, with wireguard-go), "
              + "\(kind.rawValue) datastore, real meshguard controller, \(changes) new keys")
        return try await Lab.withLab(LabSpec(id: LabSpec.uniqueID(prefix: "mgb"), nodeCount: n, podsPerNode: 0)) { lab in
            var options = MeshClusterOptions(binary: binary)
            // The agent's own defaults, except that status follows a change within 20 ms:
            // status is what this benchmark watches (by default writes are 1 s apart, and
            // N/200 s apart in an N-node mesh, which the rate below lifts).
            options.agentLeaseTTL = 15
            options.controllerLeaseTTL = 15
            options.resyncInterval = "10s"
            options.statusInterval = "10s"
            options.extraAgentArguments = ["--status-min-interval", "20ms", "--cluster-status-rate", "100000"]
            options.logLevel = "warning"
            options.wireGuardBackend = "userspace"
            options.etcdMembers = kind == .etcd ? 1 : 0
            let cluster = MeshCluster(lab: lab, options: options)
            try cluster.startDatastore()
            defer { cluster.stopDatastore() }
            let controller = try cluster.startController()
            // The controller creates a SQLite datastore: enable once it can.
            try cluster.wait("the controller to lead", timeout: .seconds(30)) { try cluster.cli(["enable"]).succeeded }
            let startedAt = Date().timeIntervalSince1970
            for node in lab.nodes { try cluster.startAgent(node) }

            let probe = try lab.run(in: lab.fabric, [bench, "cluster-probe", "--url", cluster.datastoreURL, "--agents", "\(n)",
                                                     "--changes", "\(changes)", "--controller-pid", "\(controller.pid)",
                                                     "--started-at", "\(startedAt)"],
                                    timeout: .seconds(Double(600 + 30 * changes)))
            guard probe.succeeded, let line = probe.stdout.split(separator: "\n").last(where: { $0.hasPrefix("{") }),
                  let result = try? JSONDecoder().decode(ClusterProbe.Result.self, from: Data(line.utf8)) else {
                throw BenchError("cluster-probe failed (status \(probe.status)):\n\(probe.stdout)\n\(probe.stderr)\n\(cluster.logs(lines: 10))")
            }
            for line in probe.stdout.split(separator: "\n") where !line.hasPrefix("{") { print(line) }

            let agentPIDs = lab.nodes.compactMap { cluster.agent($0)?.pid }
            let rss = agentPIDs.compactMap { memoryKB("VmRSS", pid: "\($0)") }
            let wgRSS = lab.nodes.compactMap { cluster.wireGuardGoPID(on: $0) }.compactMap { memoryKB("VmRSS", pid: "\($0)") }
            let running = lab.nodes.filter { cluster.agent($0)?.isRunning == true }.count

            let latencies = result.latenciesMs.map { Duration.microseconds(Int64($0 * 1000)) }
            let published = result.publishedMs.map { Duration.microseconds(Int64($0 * 1000)) }
            var summary = Summary("cluster: \(n) real agent processes with wireguard-go on \(kind.rawValue)")
            summary.add("agents start → every status lists every peer", milliseconds(.microseconds(Int64(result.meshedMs * 1000))))
            summary.add("new key → on every agent's device (its status), p50", milliseconds(percentile(50, of: latencies)))
            summary.add("new key → on every agent's device (its status), p99 (of \(changes))", milliseconds(percentile(99, of: latencies)))
            summary.add("  of which claim → peer published by the controller, p50", milliseconds(percentile(50, of: published)))
            summary.add("  of which claim → peer published by the controller, p99", milliseconds(percentile(99, of: published)))
            summary.add("controller CPU during the changes", result.controllerCPUSeconds.map {
                String(format: "%.2f s of %.1f s (%.0f %% of a core)", $0, result.windowMs / 1000, 100 * $0 / (result.windowMs / 1000))
            } ?? "?")
            if let requests = result.etcdRequests {
                summary.add("etcd gRPC requests during the changes", String(format: "%.0f (%.0f/s)", requests, requests / (result.windowMs / 1000)))
            }
            if let agentsCPU = result.agentsCPUSeconds, let wireGuardCPU = result.wireGuardCPUSeconds, changes > 0 {
                summary.add("CPU per new key, per agent: meshguard agent + wireguard-go",
                            String(format: "%.1f ms + %.1f ms (all %d agents: %.0f ms)", 1000 * agentsCPU / Double(n * changes),
                                   1000 * wireGuardCPU / Double(n * changes), n, 1000 * (agentsCPU + wireGuardCPU) / Double(changes)))
            }
            summary.add("agent RSS, median of \(rss.count)", rss.isEmpty ? "?" : mebibytes(kB: rss.sorted()[rss.count / 2]))
            summary.add("wireguard-go RSS, median of \(wgRSS.count)", wgRSS.isEmpty ? "?" : mebibytes(kB: wgRSS.sorted()[wgRSS.count / 2]))
            summary.add("agents still running at the end", "\(running) of \(n)")
            return summary
        }
    }
}
