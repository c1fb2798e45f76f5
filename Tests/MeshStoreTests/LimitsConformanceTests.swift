import MeshCore
import Testing

/// What every backend refuses with `.invalidArgument`.
@Suite struct LimitsConformanceTests {
    @Test(arguments: Backend.allCases)
    func emptyKeyIsRefused(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            #expect(await meshError { try await store.put("", value: [], lease: nil) }?.code == .invalidArgument)
            #expect(await meshError { _ = try await store.get("") }?.code == .invalidArgument)
            #expect(await meshError { try await store.delete("") }?.code == .invalidArgument)
            #expect(await meshError {
                _ = try await store.commit(Transaction(compares: [Compare("", .absent)], success: []))
            }?.code == .invalidArgument)
        }
    }

    @Test(arguments: Backend.allCases)
    func oversizedKeyOrValueIsRefusedAndWritesNothing(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let before = try await store.currentRevision()
            let longKey = "/" + String(repeating: "k", count: DatastoreLimits.maxKeyBytes)
            let bigValue = [UInt8](repeating: 7, count: DatastoreLimits.maxValueBytes + 1)
            #expect(await meshError { try await store.put(longKey, value: [], lease: nil) }?.code == .invalidArgument)
            #expect(await meshError { try await store.put("/big", value: bigValue, lease: nil) }?.code == .invalidArgument)
            #expect(await meshError {
                _ = try await store.commit(Transaction(compares: [], success: [
                    .put(key: "/fine", value: [], lease: nil),
                    .put(key: "/big", value: bigValue, lease: nil),
                ]))
            }?.code == .invalidArgument)
            #expect(try await store.get("/fine") == nil)
            #expect(try await store.currentRevision() == before)

            // The limits themselves are allowed.
            let maxKey = String(repeating: "k", count: DatastoreLimits.maxKeyBytes)
            let maxValue = [UInt8](repeating: 7, count: DatastoreLimits.maxValueBytes)
            try await store.put(maxKey, value: maxValue, lease: nil)
            #expect(try await store.get(maxKey)?.value.count == DatastoreLimits.maxValueBytes)
        }
    }

    @Test(arguments: Backend.allCases)
    func transactionWritingOneKeyTwiceIsRefused(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let error = await meshError {
                _ = try await sut.store.commit(Transaction(compares: [], success: [
                    .put(key: "/twice", value: [], lease: nil),
                    .delete(key: "/twice"),
                ]))
            }
            #expect(error?.code == .invalidArgument)
        }
    }
}
