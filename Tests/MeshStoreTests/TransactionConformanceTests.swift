import MeshCore
import Testing

/// Compare-and-swap transactions.
@Suite struct TransactionConformanceTests {
    @Test(arguments: Backend.allCases)
    func createIfAbsentHasExactlyOneWinner(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let winners = try await withThrowingTaskGroup(of: Int?.self) { group in
                for racer in 0..<8 {
                    group.addTask {
                        try await store.create("/race/leader", value: bytes("racer \(racer)")) ? racer : nil
                    }
                }
                return try await group.reduce(into: [Int]()) { if let racer = $1 { $0.append(racer) } }
            }
            #expect(winners.count == 1)
            let winner = try #require(winners.first)
            let leader = try #require(try await store.get("/race/leader"))
            #expect(leader.value == bytes("racer \(winner)"))
            #expect(leader.version == 1)
        }
    }

    @Test(arguments: Backend.allCases)
    func updateOnModRevisionRefusesStaleRevision(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let first = try await store.put("/cas/a", value: bytes("v1"), lease: nil)
            #expect(try await store.update("/cas/a", value: bytes("v2"), ifModRevision: first))
            #expect(try await store.update("/cas/a", value: bytes("stale"), ifModRevision: first) == false)
            #expect(try await store.get("/cas/a")?.value == bytes("v2"))
            // A missing key has mod revision 0: updating it "if 0" creates it.
            #expect(try await store.update("/cas/new", value: bytes("n"), ifModRevision: 0))
            #expect(try await store.update("/cas/other", value: bytes("n"), ifModRevision: first) == false)
            #expect(try await store.get("/cas/other") == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func deleteIfModRevision(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let first = try await store.put("/cad/a", value: bytes("v1"), lease: nil)
            let second = try await store.put("/cad/a", value: bytes("v2"), lease: nil)
            #expect(try await store.delete("/cad/a", ifModRevision: first) == false)
            #expect(try await store.get("/cad/a") != nil)
            #expect(try await store.delete("/cad/a", ifModRevision: second))
            #expect(try await store.get("/cad/a") == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func compareConditions(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            func holds(_ compare: Compare) async throws -> Bool {
                try await store.commit(Transaction(compares: [compare], success: [])).succeeded
            }
            #expect(try await holds(Compare("/cmp/k", .absent)))
            #expect(try await holds(Compare("/cmp/k", .present)) == false)
            #expect(try await holds(Compare("/cmp/k", .modRevision(0))))
            #expect(try await holds(Compare("/cmp/k", .createRevision(0))))

            let created = try await store.put("/cmp/k", value: bytes("1"), lease: nil)
            let updated = try await store.put("/cmp/k", value: bytes("2"), lease: nil)
            #expect(try await holds(Compare("/cmp/k", .present)))
            #expect(try await holds(Compare("/cmp/k", .absent)) == false)
            #expect(try await holds(Compare("/cmp/k", .modRevision(updated))))
            #expect(try await holds(Compare("/cmp/k", .modRevision(created))) == false)
            // The create revision is a fencing token: it survives updates...
            #expect(try await holds(Compare("/cmp/k", .createRevision(created))))
            // ...but not re-creation.
            try await store.delete("/cmp/k")
            try await store.put("/cmp/k", value: bytes("3"), lease: nil)
            #expect(try await holds(Compare("/cmp/k", .createRevision(created))) == false)
        }
    }

    @Test(arguments: Backend.allCases)
    func multiOperationTransactionIsAtomicAtOneRevision(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            try await store.put("/txn/b", value: bytes("b"), lease: nil)
            let before = try await store.currentRevision()
            let recorder = await WatchRecorder.start(store.watch(prefix: "/txn/", from: before + 1))

            let result = try await store.commit(Transaction(
                compares: [Compare("/txn/a", .absent), Compare("/txn/b", .present)],
                success: [.put(key: "/txn/a", value: bytes("a"), lease: nil),
                          .put(key: "/txn/c", value: bytes("c"), lease: nil),
                          .delete(key: "/txn/b")],
                failure: [.put(key: "/txn/failed", value: [], lease: nil)]))
            #expect(result == TransactionResult(succeeded: true, revision: before + 1))
            #expect(try await store.get("/txn/a")?.modRevision == before + 1)
            #expect(try await store.get("/txn/c")?.modRevision == before + 1)
            #expect(try await store.get("/txn/b") == nil)
            #expect(try await store.get("/txn/failed") == nil)

            let events = try await recorder.waitForEvents(3)
            #expect(Set(events) == [
                .put(KeyValue(key: "/txn/a", value: bytes("a"), createRevision: before + 1, modRevision: before + 1,
                              version: 1, lease: nil)),
                .put(KeyValue(key: "/txn/c", value: bytes("c"), createRevision: before + 1, modRevision: before + 1,
                              version: 1, lease: nil)),
                .delete(key: "/txn/b", revision: before + 1),
            ])
            // All events of one revision arrive in one batch.
            #expect(await recorder.batches.first?.events.count == 3)

            // Compares that fail run the failure branch, still at one revision.
            let otherwise = try await store.commit(Transaction(
                compares: [Compare("/txn/a", .absent)],
                success: [.put(key: "/txn/x", value: [], lease: nil)],
                failure: [.put(key: "/txn/failed", value: [], lease: nil), .delete(key: "/txn/c")]))
            #expect(otherwise == TransactionResult(succeeded: false, revision: before + 2))
            #expect(try await store.get("/txn/failed")?.modRevision == before + 2)
            #expect(try await store.get("/txn/c") == nil)
            #expect(try await store.get("/txn/x") == nil)
            await recorder.cancel()
        }
    }

    @Test(arguments: Backend.allCases)
    func transactionWithUnknownLeaseWritesNothing(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let before = try await store.currentRevision()
            let error = await meshError {
                _ = try await store.commit(Transaction(compares: [], success: [
                    .put(key: "/badlease/a", value: [], lease: nil),
                    .put(key: "/badlease/b", value: [], lease: LeaseID(0x7777_0001)),
                ]))
            }
            #expect(error?.code == .leaseNotFound)
            #expect(try await store.get("/badlease/a") == nil)
            #expect(try await store.currentRevision() == before)
        }
    }
}
