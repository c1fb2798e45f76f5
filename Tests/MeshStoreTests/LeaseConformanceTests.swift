import MeshCore
import Testing

/// Leases: expiry, keep-alive, revoke, and which keys a lease owns.
@Suite struct LeaseConformanceTests {
    @Test(arguments: Backend.allCases)
    func expiryDeletesAttachedKeysWithDeleteEvents(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let lease = try await store.grantLease(ttl: 10)
            #expect(lease.ttl == 10)
            try await store.put("/lease/a", value: bytes("a"), lease: lease.id)
            try await store.put("/lease/b", value: bytes("b"), lease: lease.id)
            try await store.put("/lease/c", value: bytes("c"), lease: nil)
            #expect(try await store.get("/lease/a")?.lease == lease.id)
            let recorder = await WatchRecorder.start(store.watch(prefix: "/lease/", from: try await store.currentRevision() + 1))

            try await sut.passTime(11)

            let events = try await recorder.waitForEvents(2)
            #expect(Set(events.map(\.key)) == ["/lease/a", "/lease/b"])
            #expect(events.allSatisfy { if case .delete = $0 { true } else { false } })
            #expect(Set(events.revisions).count == 1, "one lease's keys go at one revision")
            #expect(try await store.get("/lease/a") == nil)
            #expect(try await store.get("/lease/b") == nil)
            #expect(try await store.get("/lease/c")?.value == bytes("c"))
            let error = await meshError { try await store.keepAlive(lease.id) }
            #expect(error?.code == .leaseNotFound)
            await recorder.cancel()
        }
    }

    @Test(arguments: Backend.allCases)
    func keepAliveKeepsKeysPastTheirTTL(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let lease = try await store.grantLease(ttl: 10)
            try await store.put("/ka/node", value: bytes("up"), lease: lease.id)
            try await sut.passTime(6)
            #expect(try await store.keepAlive(lease.id) == 10)
            try await sut.passTime(6)   // 12 s after the grant: alive only thanks to the keep-alive
            #expect(try await store.get("/ka/node")?.value == bytes("up"))
            #expect(try await store.keepAlive(lease.id) == 10)
            try await sut.passTime(11)
            #expect(try await store.get("/ka/node") == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func keepAliveOfExpiredOrUnknownLeaseThrowsLeaseNotFound(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let lease = try await store.grantLease(ttl: 5)
            try await sut.passTime(6)
            #expect(await meshError { try await store.keepAlive(lease.id) }?.code == .leaseNotFound)
            #expect(await meshError { try await store.keepAlive(LeaseID(0x5eed_0001)) }?.code == .leaseNotFound)
            // A put with the dead lease is refused, and writes nothing.
            #expect(await meshError { try await store.put("/dead/k", value: [], lease: lease.id) }?.code == .leaseNotFound)
            #expect(try await store.get("/dead/k") == nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func revokeDeletesAttachedKeysAtOneRevision(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let lease = try await store.grantLease(ttl: 60)
            try await store.put("/rv/a", value: [], lease: lease.id)
            try await store.put("/rv/b", value: [], lease: lease.id)
            try await store.put("/rv/c", value: [], lease: nil)
            let before = try await store.currentRevision()
            let recorder = await WatchRecorder.start(store.watch(prefix: "/rv/", from: before + 1))

            try await store.revoke(lease.id)

            let events = try await recorder.waitForEvents(2)
            #expect(Set(events) == [.delete(key: "/rv/a", revision: before + 1), .delete(key: "/rv/b", revision: before + 1)])
            #expect(try await store.currentRevision() == before + 1)
            #expect(try await store.get("/rv/c") != nil)
            // Revoking again, or an unknown lease, is not an error and changes nothing.
            try await store.revoke(lease.id)
            try await store.revoke(LeaseID(0x5eed_0002))
            #expect(try await store.currentRevision() == before + 1)
            #expect(await meshError { try await store.put("/rv/a", value: [], lease: lease.id) }?.code == .leaseNotFound)
            #expect(await meshError { try await store.keepAlive(lease.id) }?.code == .leaseNotFound)
            await recorder.cancel()
        }
    }

    @Test(arguments: Backend.allCases)
    func keysRewrittenWithAnotherLeaseOrNoneSurviveTheOldLease(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            let store = sut.store
            let old = try await store.grantLease(ttl: 5)
            let new = try await store.grantLease(ttl: 60)
            #expect(old.id != new.id)
            try await store.put("/moved/k", value: bytes("1"), lease: old.id)
            try await store.put("/moved/k", value: bytes("2"), lease: new.id)
            try await store.put("/moved/j", value: bytes("1"), lease: old.id)
            try await store.put("/moved/j", value: bytes("2"), lease: nil)
            try await store.put("/moved/gone", value: bytes("1"), lease: old.id)

            try await sut.passTime(6)

            #expect(try await store.get("/moved/gone") == nil)
            let k = try #require(try await store.get("/moved/k"))
            #expect(k.lease == new.id)
            #expect(k.value == bytes("2"))
            let j = try #require(try await store.get("/moved/j"))
            #expect(j.lease == nil)

            try await store.revoke(new.id)
            #expect(try await store.get("/moved/k") == nil)
            #expect(try await store.get("/moved/j") != nil)
        }
    }

    @Test(arguments: Backend.allCases)
    func grantRejectsNonPositiveTTL(_ backend: Backend) async throws {
        try await withStore(backend) { sut in
            #expect(await meshError { _ = try await sut.store.grantLease(ttl: 0) }?.code == .invalidArgument)
            #expect(await meshError { _ = try await sut.store.grantLease(ttl: -5) }?.code == .invalidArgument)
        }
    }
}
