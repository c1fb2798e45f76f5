import Foundation
@testable import MeshStoreSQLite
import MeshCore
import Testing

/// Several processes and instances sharing one SQLite file.
@Suite struct SQLiteMultiProcessTests {
    @Test func processesWritingAtOnceLoseNoIncrementAndTheWatchSeesEveryRevision() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("store.db")
        let store = try SQLiteDatastore(path: path)
        defer { store.close() }
        let start = try await store.currentRevision() + 1
        let recorder = await WatchRecorder.start(store.watch(prefix: "/mp/", from: start))

        let workers = 4
        let count = 40
        let runs = try await StoreWorker.runAll(db: path, workers: workers, count: count, prefix: "/mp/")
        for run in runs {
            #expect(run.status == 0, "worker \(run.worker): \(run.output)")
        }

        // Each round is one increment and one put, each a revision; lost CAS races write nothing.
        let total = workers * count * 2
        let events = try await recorder.waitForEvents(total, timeout: .seconds(60))
        #expect(events.count == total)
        #expect(events.revisions == Array(start..<start + Revision(total)), "every revision once, in order")

        let counter = try #require(try await store.get("/mp/counter"))
        #expect(text(counter.value) == String(workers * count))
        #expect(counter.version == Int64(workers * count))
        let counterValues = events.compactMap { event -> Int? in
            guard case .put(let kv) = event, kv.key == "/mp/counter" else { return nil }
            return Int(text(kv.value))
        }
        #expect(counterValues == Array(1...workers * count))

        // The watch, replayed onto an empty map, gives exactly what a list returns.
        var state: [String: KeyValue] = [:]
        for event in events {
            switch event {
            case .put(let kv): state[kv.key] = kv
            case .delete(let key, _): state[key] = nil
            }
        }
        let listing = try await store.list(prefix: "/mp/")
        #expect(listing.revision == start + Revision(total) - 1)
        #expect(listing.items == state.values.sorted { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) })
        #expect(listing.items.count == 1 + workers * count)

        let latencies = await recorder.arrivals.flatMap { arrival in
            arrival.batch.events.compactMap { event -> Int64? in
                guard case .put(let kv) = event, kv.key.hasPrefix("/mp/w"), let sent = Int64(text(kv.value)) else { return nil }
                return arrival.at - sent
            }
        }
        print("watch latency, \(workers) processes writing flat out, watcher in the test process: \(LatencySummary(samples: latencies))")
        await recorder.cancel()
    }

    @Test func processesCreatingAFreshFileAtOnceAllSucceed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("fresh.db")
        let runs = try await StoreWorker.runAll(db: path, workers: 4, count: 5, prefix: "/fresh/")
        for run in runs {
            #expect(run.status == 0, "worker \(run.worker): \(run.output)")
        }
        let store = try SQLiteDatastore(path: path)
        defer { store.close() }
        #expect(try await store.get("/fresh/counter").map { text($0.value) } == "20")
        #expect(try await store.list(prefix: "/fresh/w").items.count == 20)
        #expect(try await store.currentRevision() == 1 + 40)
    }

    @Test func anotherProcessesWritesReachAWatchInOrder() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("store.db")
        let store = try SQLiteDatastore(path: path)
        defer { store.close() }
        let recorder = await WatchRecorder.start(store.watch(prefix: "/paced/", from: try await store.currentRevision() + 1))

        let count = 40
        let run = try await StoreWorker.run(db: path, worker: 0, count: count, prefix: "/paced/", intervalMilliseconds: 25)
        #expect(run.status == 0, "\(run.output)")
        _ = try await recorder.waitForEvents(2 * count)

        let latencies = await recorder.arrivals.flatMap { arrival in
            arrival.batch.events.compactMap { event -> Int64? in
                guard case .put(let kv) = event, kv.key.hasPrefix("/paced/w"), let sent = Int64(text(kv.value)) else { return nil }
                return arrival.at - sent
            }
        }
        // Latency is measured by `meshguard-bench store` (timing belongs in a benchmark, not a test
        // that a loaded CI machine can fail); here: every write arrives, in order.
        #expect(latencies.count == count)
        let written = await recorder.events.compactMap { event -> Int? in
            guard case .put(let kv) = event, kv.key.hasPrefix("/paced/w") else { return nil }
            return Int(kv.key.split(separator: "/").last!)
        }
        #expect(written == Array(0..<count))
        await recorder.cancel()
    }

    @Test func aSecondInstanceSeesTheFirstsWritesThroughItsWatch() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("store.db")
        let writer = try SQLiteDatastore(path: path)
        defer { writer.close() }
        let watcher = try SQLiteDatastore(path: path)
        defer { watcher.close() }
        let recorder = await WatchRecorder.start(watcher.watch(prefix: "/two/", from: try await writer.currentRevision() + 1))

        var latencies: [Int64] = []
        var expected: [WatchEvent] = []
        for index in 0..<40 {
            let sent = wallClockNanoseconds()
            try await writer.put("/two/\(index % 5)", value: bytes("\(index)"), lease: nil)
            expected.append(.put(try #require(try await writer.get("/two/\(index % 5)"))))
            _ = try await recorder.waitForEvents(index + 1)
            latencies.append(await recorder.arrivals.last!.at - sent)
        }
        #expect(await recorder.events == expected)
        #expect(latencies.count == 40)
        await recorder.cancel()
    }

    @Test func anyInstanceReapsExpiredLeasesAndRacingReapersDeleteEachKeyOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.remove() }
        let path = directory.file("store.db")
        let clock = ManualClock()
        var configuration = SQLiteDatastore.Configuration()
        configuration.clock = clock
        configuration.leaseReaperInterval = .milliseconds(5)
        let granter = try SQLiteDatastore(path: path, configuration: configuration)
        let reaperA = try SQLiteDatastore(path: path, configuration: configuration)
        defer { reaperA.close() }
        let reaperB = try SQLiteDatastore(path: path, configuration: configuration)
        defer { reaperB.close() }

        var leases: [Lease] = []
        for index in 0..<10 {
            let lease = try await granter.grantLease(ttl: 10)
            leases.append(lease)
            for key in 0..<3 {
                try await granter.put("/reap/\(index)/\(key)", value: [], lease: lease.id)
            }
        }
        // A lease granted by one instance is known to the others.
        #expect(try await reaperB.keepAlive(leases[0].id) == 10)
        // Only the other instances' background reapers are left to act.
        granter.close()

        let before = try await reaperA.currentRevision()
        let recorder = await WatchRecorder.start(reaperA.watch(prefix: "/reap/", from: before + 1))
        clock.advance(by: 11)
        let events = try await recorder.waitForEvents(30)
        // A reaper that lost the race must write nothing: the next revision after the ten
        // reaps is this marker's.
        let marker = try await reaperB.put("/reap/marker", value: [], lease: nil)
        #expect(marker == before + 11)
        let all = try await recorder.waitForEvents(31)
        #expect(all.count == 31)
        #expect(all.last?.key == "/reap/marker")
        #expect(Set(events.prefix(30).map(\.key)).count == 30)
        #expect(events.prefix(30).allSatisfy { if case .delete = $0 { true } else { false } })
        // One revision per lease, each holding that lease's three keys.
        let byRevision = Dictionary(grouping: events.prefix(30), by: \.revision)
        #expect(byRevision.count == 10)
        #expect(byRevision.values.allSatisfy { batch in
            Set(batch.map { $0.key.split(separator: "/")[1] }).count == 1 && batch.count == 3
        })
        #expect(try await reaperA.list(prefix: "/reap/").items.map(\.key) == ["/reap/marker"])
        await recorder.cancel()
    }
}
