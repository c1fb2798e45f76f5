import MeshCore
import Testing

/// Prefix watches: replay, live delivery, compaction, cancellation.
@Suite struct WatchConformanceTests {
    @Test(arguments: Backend.allCases)
    func watchReplaysHistoryThenDeliversLiveEventsWithoutGapsOrDuplicates(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let start = try await store.currentRevision() + 1
            var expected: [WatchEvent] = []
            for index in 0..<20 {
                let key = "/w/\(index % 7)"
                if index % 5 == 4 {
                    let revision = try await store.currentRevision() + 1
                    if try await store.delete(key) { expected.append(.delete(key: key, revision: revision)) }
                } else {
                    try await store.put(key, value: bytes("\(index)"), lease: nil)
                    expected.append(.put(try #require(try await store.get(key))))
                }
                try await store.put("/other/\(index)", value: [], lease: nil)
            }

            // Start the watch in the middle of a stream of writes: the replay/live boundary
            // falls somewhere among them.
            let recorder = await WatchRecorder.start(store.watch(prefix: "/w/", from: start))
            for index in 20..<60 {
                let key = "/w/\(index % 7)"
                try await store.put(key, value: bytes("\(index)"), lease: nil)
                expected.append(.put(try #require(try await store.get(key))))
                try await store.put("/other/\(index)", value: [], lease: nil)
            }

            let events = try await recorder.waitForEvents(expected.count)
            #expect(events == expected)
            #expect(events.revisions == events.revisions.sorted())
            #expect(Set(events.revisions).count == events.count)
            await recorder.cancel()
        }
    }

    @Test(arguments: Backend.allCases)
    func watchFromZeroStartsAtTheNextRevision(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            try await store.put("/now/old", value: [], lease: nil)
            let recorder = await WatchRecorder.start(store.watch(prefix: "/now/", from: 0))
            // Until the watch is registered, "now" is not settled; a marker put written after
            // the watch sees something tells us it is.
            try await recorder.waitUntilReceiving(store: store, marker: "/now/marker")
            let events = await recorder.events
            #expect(!events.contains { $0.key == "/now/old" })
            await recorder.cancel()
        }
    }

    @Test(arguments: Backend.allCases)
    func watchOfAFutureRevisionWaitsForIt(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let current = try await store.currentRevision()
            let recorder = await WatchRecorder.start(store.watch(prefix: "/future/", from: current + 2))
            try await store.put("/future/a", value: bytes("skipped"), lease: nil)
            try await store.put("/future/a", value: bytes("seen"), lease: nil)
            let events = try await recorder.waitForEvents(1)
            #expect(events.revisions == [current + 2])
            await recorder.cancel()
        }
    }

    @Test(arguments: Backend.allCases)
    func watchFromCompactedRevisionFailsCompacted(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let first = try await store.put("/c/a", value: bytes("1"), lease: nil)
            try await store.put("/c/a", value: bytes("2"), lease: nil)
            try await store.put("/c/b", value: bytes("b"), lease: nil)
            try await store.delete("/c/b")
            let kept = try await store.put("/c/a", value: bytes("3"), lease: nil)
            try await store.put("/c/keep", value: bytes("k"), lease: nil)
            let listingBefore = try await store.list(prefix: "/c/")

            try await store.compact(upTo: kept)

            let old = await WatchRecorder.start(store.watch(prefix: "/c/", from: first))
            let error = try await old.waitForEnd()
            #expect((error as? MeshError)?.code == .compacted)

            // The compact revision itself is still there, as in etcd.
            let fromKept = await WatchRecorder.start(store.watch(prefix: "/c/", from: kept))
            let events = try await fromKept.waitForEvents(2)
            #expect(events.revisions == [kept, kept + 1])
            await fromKept.cancel()

            // Reads are unaffected.
            #expect(try await store.list(prefix: "/c/") == listingBefore)
            #expect(try await store.get("/c/a")?.value == bytes("3"))
            #expect(try await store.get("/c/a")?.version == 3)

            // Compacting again at or below is harmless; beyond the current revision is not.
            try await store.compact(upTo: first)
            let future = await meshError { try await store.compact(upTo: try await store.currentRevision() + 1) }
            #expect(future?.code == .invalidArgument)
        }
    }

    @Test(arguments: Backend.allCases)
    func cancellingTheConsumerEndsTheWatch(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let recorder = await WatchRecorder.start(store.watch(prefix: "/cancel/", from: 0))
            try await recorder.waitUntilReceiving(store: store, marker: "/cancel/marker")
            #expect(await sut.activeWatches() ?? 1 == 1)

            await recorder.cancel()
            // The backend lets go of the watch; it may do so a moment after the consumer left.
            let deadline = ContinuousClock.now + .seconds(10)
            while let count = await sut.activeWatches(), count != 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(await sut.activeWatches() ?? 0 == 0)

            // Writes after the cancellation reach nobody and break nothing.
            try await store.put("/cancel/after", value: [], lease: nil)
            #expect(try await store.get("/cancel/after") != nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func watchesOfDifferentPrefixesAreIndependent(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let from = try await store.currentRevision() + 1
            let a = await WatchRecorder.start(store.watch(prefix: "/p/a/", from: from))
            let all = await WatchRecorder.start(store.watch(prefix: "", from: from))
            try await store.put("/p/b/1", value: [], lease: nil)
            try await store.put("/p/a/1", value: [], lease: nil)
            try await store.put("/p/ab", value: [], lease: nil)
            #expect(try await all.waitForEvents(3).map(\.key) == ["/p/b/1", "/p/a/1", "/p/ab"])
            #expect(try await a.waitForEvents(1).map(\.key) == ["/p/a/1"])
            await a.cancel()
            await all.cancel()
            #expect(await a.events.count == 1)
        }
    }
}

extension WatchRecorder {
    /// Puts `marker` until the watch delivers it: proof that the watch is registered.
    func waitUntilReceiving(store: any Datastore, marker: String) async throws {
        let deadline = ContinuousClock.now + .seconds(10)
        var attempt = 0
        while ContinuousClock.now < deadline {
            attempt += 1
            let value = bytes("\(attempt)")
            try await store.put(marker, value: value, lease: nil)
            do {
                try await wait(for: "marker \(marker)", timeout: .milliseconds(500)) { view in
                    view.events.contains { if case .put(let kv) = $0 { kv.key == marker } else { false } }
                }
                return
            } catch is Timeout {
                continue
            }
        }
        throw Timeout(description: "watch never delivered \(marker)")
    }
}
