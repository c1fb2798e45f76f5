// `meshguard-bench store`: how late a watcher of the SQLite datastore hears of a write made by
// another process. Writer processes (this executable in `store-writer` mode) put values that
// carry their send time; a watch in this process takes delivery time − send time of each.

import Foundation
import MeshCore
import MeshStoreSQLite

enum StoreLatencyBenchmark {
    static let bound = Duration.milliseconds(100)

    static func run(writes: Int, writers: Int, intervalMilliseconds: Int) async throws -> Summary {
        let (scratch, scratchCleanup) = try ScratchDirectory.create("meshguard-bench-store-\(getpid())")
        defer { Cleanup.shared.perform(scratchCleanup) }
        let database = scratch.path + "/store.db"
        let store = try SQLiteDatastore(path: database)
        defer { store.close() }

        print("store: 1 writer, \(writes) writes every \(intervalMilliseconds) ms; "
              + "then \(writers) writers, \(writes) writes each, flat out")
        let paced = try await round(store: store, database: database, prefix: "/bench/paced/", writers: 1,
                                    writes: writes, intervalMilliseconds: intervalMilliseconds)
        let flat = try await round(store: store, database: database, prefix: "/bench/flat/", writers: writers,
                                   writes: writes, intervalMilliseconds: 0)

        var summary = Summary("SQLite datastore: cross-process watch latency (delivery - send)")
        let rounds = [("(i) 1 writer, every \(intervalMilliseconds) ms", paced), ("(j) \(writers) writers, flat out", flat)]
        for (name, result) in rounds {
            let l = result.latencies
            summary.add("\(name): p50 / p90", "\(milliseconds(percentile(50, of: l))) / \(milliseconds(percentile(90, of: l)))")
            summary.add("    p99 / max", "\(milliseconds(percentile(99, of: l))) / \(milliseconds(l.max()!))")
            let rate = Double(l.count) / result.sendSpan.seconds
            summary.add("    events, write rate", String(format: "%d, %.0f writes/s", l.count, rate))
            summary.add("    p99 <= \(milliseconds(bound))", percentile(99, of: l) <= bound ? "yes" : "NO")
        }
        return summary
    }

    struct Round {
        var latencies: [Duration]
        /// From the first send to the last, on the writers' clock.
        var sendSpan: Duration
    }

    /// Starts `writers` writer processes under `prefix` and collects the latency of every event.
    private static func round(store: SQLiteDatastore, database: String, prefix: String, writers: Int, writes: Int,
                              intervalMilliseconds: Int) async throws -> Round {
        let expected = writers * writes
        let events = store.watch(prefix: prefix, from: try await store.currentRevision() + 1)
        let executable = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
        var processes: [Process] = []
        var cleanup: Cleanup.Token?
        defer {
            for process in processes where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            if let cleanup { Cleanup.shared.dismiss(cleanup) }
        }
        for w in 0..<writers {
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["store-writer", "--db", database, "--prefix", "\(prefix)w\(w)/", "--writes", "\(writes)",
                                 "--interval-ms", "\(intervalMilliseconds)"]
            process.standardInput = FileHandle.nullDevice
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            processes.append(process)
        }
        let pids = processes.map(\.processIdentifier)
        cleanup = Cleanup.shared.register { for pid in pids { kill(pid, SIGKILL) } }

        let timeout = Duration.milliseconds(writes * intervalMilliseconds) + .seconds(30)
        let received: Round? = try await withThrowingTaskGroup(of: Round?.self) { group in
            group.addTask {
                var latencies: [Duration] = []
                latencies.reserveCapacity(expected)
                var (firstSent, lastSent) = (Int64.max, Int64.min)
                for try await batch in events {
                    let delivered = wallClockNanoseconds()
                    for case .put(let kv) in batch.events {
                        guard let sent = Int64(String(decoding: kv.value, as: UTF8.self)) else {
                            throw BenchError("\(kv.key) does not hold a send time")
                        }
                        latencies.append(.nanoseconds(delivered - sent))
                        (firstSent, lastSent) = (min(firstSent, sent), max(lastSent, sent))
                    }
                    if latencies.count >= expected {
                        return Round(latencies: latencies, sendSpan: .nanoseconds(max(lastSent - firstSent, 1)))
                    }
                }
                throw BenchError("the watch ended after \(latencies.count) of \(expected) events")
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            return try await group.next() ?? nil
        }
        guard let received else { throw BenchError("timed out after \(timeout) waiting for \(expected) watch events") }
        let deadline = ContinuousClock.now + .seconds(10)
        while processes.contains(where: \.isRunning) && ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        let failed = processes.filter { $0.isRunning || $0.terminationReason != .exit || $0.terminationStatus != 0 }
        guard failed.isEmpty else {
            let statuses = failed.map { $0.isRunning ? "still running" : "\($0.terminationStatus)" }
            throw BenchError("\(failed.count) of \(writers) store-writer processes failed or hung: \(statuses)")
        }
        return received
    }
}
