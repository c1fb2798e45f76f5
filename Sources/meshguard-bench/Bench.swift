// meshguard-bench: benchmarks of Meshguard on a real host. Run as root; each benchmark works in
// a namespace and temporary directory of its own and removes everything it created, also when
// it fails or is interrupted.
//
//   meshguard-bench [all|wireguard|kernel|agent|store] [options]   (--help lists them)

import Foundation
import MeshCore

@main
struct Bench {
    static func main() async {
        let options: Options
        do {
            options = try Options(Array(CommandLine.arguments.dropFirst()))
        } catch is HelpRequested {
            print(usage)
            exit(0)
        } catch {
            fail(error, status: 2)
        }
        do {
            if options.mode == .storeWriter {
                try await StoreWriter.run(database: options.database, prefix: options.prefix, writes: options.writes,
                                          intervalMilliseconds: options.intervalMilliseconds)
                return
            }
            if options.mode == .clusterProbe {
                try await ClusterProbe.run(url: options.url, agents: options.agents, changes: options.changes,
                                           controllerPID: options.controllerPID, startedAt: options.startedAt)
                return
            }
            guard geteuid() == 0 || options.mode == .store || options.mode == .convergence else {
                throw BenchError("run as root: it creates network namespaces and TUN devices")
            }
            Cleanup.shared.installSignalHandlers()
            var sections: [Summary] = []
            if options.mode == .wireguard || options.mode == .all {
                sections.append(try await WireGuardBenchmark.run(peers: options.peers, runs: options.runs, backend: .userspace))
            }
            if options.mode == .convergence {
                sections.append(try await ConvergenceBenchmark.run(agents: options.agents, store: options.datastore,
                                                                   changes: options.changes, meshguard: options.meshguard))
            }
            if options.mode == .cluster {
                sections.append(try await ClusterBenchmark.run(agents: options.agents, store: options.datastore,
                                                               changes: options.changes, meshguard: options.meshguard))
            }
            if options.mode == .kernel {
                sections.append(try await WireGuardBenchmark.run(peers: options.peers, runs: options.runs, backend: .kernel))
            }
            if options.mode == .agent || options.mode == .all {
                sections.append(try await AgentBenchmark.run(peers: options.peers, meshguard: options.meshguard,
                                                             changes: options.changes, idleSeconds: options.idleSeconds,
                                                             logLevel: options.agentLogLevel))
            }
            if options.mode == .store || options.mode == .all {
                sections.append(try await StoreLatencyBenchmark.run(writes: options.writes, writers: options.writers,
                                                                    intervalMilliseconds: options.intervalMilliseconds))
            }
            printTable(sections)
        } catch {
            Cleanup.shared.performAll()
            fail(error, status: 1)
        }
    }

    static func fail(_ error: any Error, status: Int32) -> Never {
        FileHandle.standardError.write(Data("meshguard-bench: \(error)\n".utf8))
        exit(status)
    }
}
