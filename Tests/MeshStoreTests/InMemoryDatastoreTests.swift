import MeshCore
import MeshTestKit
import Testing

/// The test kit's failure injection and clock, which callers' tests rely on.
@Suite struct InMemoryDatastoreTests {
    @Test func failNextFailsExactlyTheNextCallsOfThatOperation() async throws {
        let store = InMemoryDatastore()
        await store.failNext(.put, with: MeshError(.unavailable, "first"))
        await store.failNext(.put, with: MeshError(.conflict, "second"))
        #expect(await meshError { try await store.put("/f/a", value: [], lease: nil) } == MeshError(.unavailable, "first"))
        // Other operations are unaffected.
        #expect(try await store.get("/f/a") == nil)
        #expect(await meshError { try await store.put("/f/a", value: [], lease: nil) } == MeshError(.conflict, "second"))
        try await store.put("/f/a", value: bytes("ok"), lease: nil)
        #expect(try await store.get("/f/a")?.value == bytes("ok"))
    }

    @Test func failNextWatchEndsTheNextWatch() async throws {
        let store = InMemoryDatastore()
        await store.failNext(.watch, with: MeshError(.unavailable, "no watch"))
        let failed = await WatchRecorder.start(store.watch(prefix: "/", from: 0))
        #expect(try await failed.waitForEnd() as? MeshError == MeshError(.unavailable, "no watch"))
        let working = await WatchRecorder.start(store.watch(prefix: "/", from: 0))
        try await working.waitUntilReceiving(store: store, marker: "/marker")
        await working.cancel()
    }

    @Test func unavailableStoreFailsEverythingUntilRestored() async throws {
        let store = InMemoryDatastore()
        try await store.put("/u/a", value: bytes("kept"), lease: nil)
        let watch = await WatchRecorder.start(store.watch(prefix: "/u/", from: 0))
        try await watch.waitUntilReceiving(store: store, marker: "/u/marker")

        await store.makeUnavailable()
        #expect((try await watch.waitForEnd() as? MeshError)?.code == .unavailable)
        #expect(await meshError { _ = try await store.get("/u/a") }?.code == .unavailable)
        #expect(await meshError { _ = try await store.currentRevision() }?.code == .unavailable)
        let late = await WatchRecorder.start(store.watch(prefix: "/u/", from: 0))
        #expect((try await late.waitForEnd() as? MeshError)?.code == .unavailable)

        await store.restore()
        #expect(try await store.get("/u/a")?.value == bytes("kept"))
    }

    @Test func endWatchesEndsActiveWatchesWithCompactedByDefault() async throws {
        let store = InMemoryDatastore()
        let watch = await WatchRecorder.start(store.watch(prefix: "/e/", from: 0))
        try await watch.waitUntilReceiving(store: store, marker: "/e/marker")
        await store.endWatches()
        #expect((try await watch.waitForEnd() as? MeshError)?.code == .compacted)
        #expect(await store.watchCount == 0)
        // The data and new watches are unaffected.
        #expect(try await store.get("/e/marker") != nil)
        let again = await WatchRecorder.start(store.watch(prefix: "/e/", from: 1))
        #expect(try await again.waitForEvents(1).first?.key == "/e/marker")
        await again.cancel()
    }

    @Test func leasesExpireOnlyWhenTimeIsAdvanced() async throws {
        let store = InMemoryDatastore()
        let lease = try await store.grantLease(ttl: 10)
        try await store.put("/t/k", value: [], lease: lease.id)
        await store.advance(by: 9.5)
        #expect(try await store.get("/t/k") != nil)
        await store.advance(by: 0.5)
        #expect(try await store.get("/t/k") == nil)
    }

    @Test func injectedClockDrivesLeaseExpiry() async throws {
        let clock = ManualClock()
        let store = InMemoryDatastore(clock: clock)
        let lease = try await store.grantLease(ttl: 10)
        try await store.put("/clock/k", value: [], lease: lease.id)
        clock.advance(by: 11)
        // Expiry is noticed on the next call.
        #expect(try await store.get("/clock/k") == nil)
    }
}
