import MeshCore
import Testing

/// Reads and writes of single keys, revisions, and listing.
@Suite struct KeyValueConformanceTests {
    @Test(arguments: Backend.allCases)
    func putGetDelete(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            #expect(try await store.get("/kv/a") == nil)

            let first = try await store.put("/kv/a", value: bytes("one"), lease: nil)
            let created = try #require(try await store.get("/kv/a"))
            #expect(created == KeyValue(key: "/kv/a", value: bytes("one"), createRevision: first,
                                        modRevision: first, version: 1, lease: nil))

            let second = try await store.put("/kv/a", value: bytes("two"), lease: nil)
            #expect(second > first)
            let updated = try #require(try await store.get("/kv/a"))
            #expect(updated.value == bytes("two"))
            #expect(updated.createRevision == first)
            #expect(updated.modRevision == second)
            #expect(updated.version == 2)

            #expect(try await store.delete("/kv/a"))
            #expect(try await store.get("/kv/a") == nil)
            #expect(try await store.delete("/kv/a") == false)

            // Re-creation starts a new life: new create revision, version 1.
            let third = try await store.put("/kv/a", value: bytes("three"), lease: nil)
            let recreated = try #require(try await store.get("/kv/a"))
            #expect(recreated.createRevision == third)
            #expect(recreated.version == 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func revisionsGrowOnlyWithWrites(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let start = try await store.currentRevision()
            let put = try await store.put("/rev/a", value: [], lease: nil)
            #expect(put == start + 1)
            #expect(try await store.currentRevision() == put)

            // Writes that change nothing take no revision.
            #expect(try await store.delete("/rev/missing") == false)
            let failed = try await store.commit(Transaction(compares: [Compare("/rev/a", .absent)],
                                                            success: [.put(key: "/rev/b", value: [], lease: nil)]))
            #expect(failed == TransactionResult(succeeded: false, revision: put))
            #expect(try await store.currentRevision() == put)

            let deleted = try await store.delete("/rev/a")
            #expect(deleted)
            #expect(try await store.currentRevision() == put + 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func valuesAreOpaqueBytes(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let value: [UInt8] = [0, 1, 0xFF, 0xFE, 0x80, 0, 10, 13]
            try await sut.store.put("/bytes/a", value: value, lease: nil)
            try await sut.store.put("/bytes/empty", value: [], lease: nil)
            #expect(try await sut.store.get("/bytes/a")?.value == value)
            #expect(try await sut.store.get("/bytes/empty")?.value == [])
        }
    }

    @Test(arguments: Backend.allCases)
    func listReturnsPrefixSortedByBytesWithRevision(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            for key in ["/l/b", "/l/a/2", "/l/a/10", "/l/a/1", "/l/ä", "/l/z", "/la", "/k"] {
                try await store.put(key, value: bytes(key), lease: nil)
            }
            try await store.delete("/l/z")

            let listing = try await store.list(prefix: "/l/")
            // Byte order: "/l/a/1" < "/l/a/10" < "/l/a/2" < "/l/b" < "/l/ä" (0xC3 > 'b').
            #expect(listing.items.map(\.key) == ["/l/a/1", "/l/a/10", "/l/a/2", "/l/b", "/l/ä"])
            #expect(listing.items.allSatisfy { $0.value == bytes($0.key) })
            #expect(listing.revision == (try await store.currentRevision()))

            #expect(try await store.list(prefix: "").items.count == 7)
            let empty = try await store.list(prefix: "/nothing/")
            #expect(empty.items.isEmpty)
            #expect(empty.revision == listing.revision)
        }
    }

    @Test(arguments: Backend.allCases)
    func listRevisionSeedsAWatchWithoutGapOrOverlap(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            try await store.put("/seed/a", value: bytes("1"), lease: nil)
            let listing = try await store.list(prefix: "/seed/")
            let recorder = await WatchRecorder.start(store.watch(prefix: "/seed/", from: listing.revision + 1))
            let next = try await store.put("/seed/b", value: bytes("2"), lease: nil)
            let events = try await recorder.waitForEvents(1)
            #expect(events.revisions == [next])
            #expect(events.map(\.key) == ["/seed/b"])
            await recorder.cancel()
        }
    }
}
