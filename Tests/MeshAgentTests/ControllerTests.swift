import Logging
import MeshCodec
import MeshController
import MeshCore
import MeshTestKit
import Testing

@Suite struct ControllerLoop {
    func claim(_ n: Int, key: String? = nil, cidr: String? = nil) -> [UInt8] {
        RecordCodec.encode(ClaimRecord(node: "n\(n)", publicKey: key ?? PublicKey.fixture("n\(n)").base64,
                                       address: "192.168.77.1\(n)", listenPort: 51830, podCIDRs: [cidr ?? "10.244.\(n).0/24"]))
    }

    func verdict(_ store: InMemoryDatastore, _ n: Int) async throws -> VerdictRecord? {
        try await store.get(StoreKeys.verdict(.must("n\(n)"))).map { try RecordCodec.decode(VerdictRecord.self, from: $0.value, key: $0.key) }
    }

    @Test func badClaimIsIsolated() async throws {
        let store = InMemoryDatastore()
        let controller = makeController(store)
        try await running([controller]) {
            try await store.put(StoreKeys.claim(.must("n1")), value: claim(1), lease: nil)
            try await store.put(StoreKeys.claim(.must("n2")), value: claim(2, cidr: "10.244.1.0/25"), lease: nil)
            try await store.put(StoreKeys.claim(.must("n3")), value: Array("{not json".utf8), lease: nil)
            try await eventually("verdicts for all three") { try await store.list(prefix: StoreKeys.verdictsPrefix).items.count == 3 }
            #expect(try await verdict(store, 1)?.state == .accepted)
            #expect(try await verdict(store, 2)?.reasons == ["podCIDRs: 10.244.1.0/25 overlaps 10.244.1.0/24 of node n1"])
            #expect(try await verdict(store, 3)?.reasons.first?.contains("not valid JSON") == true)
            #expect(try await store.list(prefix: StoreKeys.peersPrefix).items.map(\.key) == [StoreKeys.peer(.must("n1"))])
            // The pools are published for agents.
            #expect(try await store.get(StoreKeys.pools) != nil)
            // Fixing the claim gets it accepted.
            try await store.put(StoreKeys.claim(.must("n2")), value: claim(2), lease: nil)
            try await eventually("n2 accepted") { try await verdict(store, 2)?.state == .accepted }
        }
    }

    /// Under load the watch delivers the controller's own writes late, after other claims.
    /// Judged without them, it used to write the same peer and verdict again for every claim
    /// in between; each record is now written once (version 1).
    @Test func eachAcceptedNodeIsWrittenOnceWhileTheWatchLags() async throws {
        let store = InMemoryDatastore()
        let controller = makeController(LaggingWatches(store, lag: .milliseconds(40)))
        try await running([controller]) {
            try await eventually("the controller leads") { try await store.get(StoreKeys.pools) != nil }
            for n in 1...12 {
                try await store.put(StoreKeys.claim(.must("n\(n)")), value: claim(n), lease: nil)
            }
            try await eventually("twelve verdicts") { try await store.list(prefix: StoreKeys.verdictsPrefix).items.count == 12 }
            // Let the lagging echoes of every write arrive; nothing may be written again.
            try await Task.sleep(for: .milliseconds(800))
            let records = try await store.list(prefix: StoreKeys.peersPrefix).items + store.list(prefix: StoreKeys.verdictsPrefix).items
            #expect(records.count == 24)
            #expect(records.filter { $0.version != 1 }.map { "\($0.key) version \($0.version)" } == [])
            // A claim that changes is still judged again: the new key is published.
            try await store.put(StoreKeys.claim(.must("n3")), value: claim(3, key: PublicKey.fixture("n3-new").base64), lease: nil)
            try await eventually("n3's new key published") {
                try await store.get(StoreKeys.peer(.must("n3"))).map { try RecordCodec.decode(PeerRecord.self, from: $0.value, key: $0.key).publicKey }
                    == PublicKey.fixture("n3-new").base64
            }
        }
    }

    @Test func removalDeletesEverythingOfTheNode() async throws {
        let store = InMemoryDatastore()
        let controller = makeController(store)
        try await running([controller]) {
            try await store.put(StoreKeys.claim(.must("n1")), value: claim(1), lease: nil)
            try await store.put(StoreKeys.claim(.must("n2")), value: claim(2), lease: nil)
            try await eventually("two peers") { try await store.list(prefix: StoreKeys.peersPrefix).items.count == 2 }
            try await store.delete(StoreKeys.claim(.must("n2")))
            // A silent node keeps its record.
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await store.get(StoreKeys.peer(.must("n2"))) != nil)
            try await store.put(StoreKeys.removal(.must("n2")),
                                value: RecordCodec.encode(RemovalRecord(node: "n2", requestedAt: Timestamp(seconds: 0))), lease: nil)
            try await eventually("n2 gone") {
                let peer = try await store.get(StoreKeys.peer(.must("n2")))
                let removal = try await store.get(StoreKeys.removal(.must("n2")))
                let verdict = try await store.get(StoreKeys.verdict(.must("n2")))
                return peer == nil && removal == nil && verdict == nil
            }
            #expect(try await store.get(StoreKeys.peer(.must("n1"))) != nil)
        }
    }

    @Test func standbyTakesOverOnAGracefulStop() async throws {
        let store = InMemoryDatastore()
        let first = makeController(store, identity: "first")
        let second = makeController(store, identity: "second")
        try await store.put(StoreKeys.claim(.must("n1")), value: claim(1), lease: nil)
        let firstTask = Task { try await first.run() }
        try await eventually("first leads") { first.leadership.isLeader }
        try await running([second]) {
            try await Task.sleep(for: .milliseconds(200))
            #expect(!second.leadership.isLeader)
            // Stopping revokes the leadership lease: the standby takes over without waiting a TTL.
            firstTask.cancel()
            _ = await firstTask.result
            try await eventually("second leads", timeout: .seconds(1)) { second.leadership.isLeader }
            try await store.put(StoreKeys.claim(.must("n2")), value: claim(2), lease: nil)
            try await eventually("second controller accepts n2") { try await verdict(store, 2)?.state == .accepted }
        }
    }

    @Test func standbyTakesOverWhenTheLeaderLeaseRunsOut() async throws {
        let clock = FixedWallClock()
        let store = InMemoryDatastore(clock: clock)
        let first = makeController(store, identity: "first")
        let second = makeController(store, identity: "second")
        try await running([first]) {
            try await eventually("first leads") { first.leadership.isLeader }
            try await running([second]) {
                try await Task.sleep(for: .milliseconds(200))
                #expect(!second.leadership.isLeader)
                // The leader stalls past its TTL (time jumps): its lease expires in the store.
                await store.advance(by: 10)
                try await eventually("second leads") { second.leadership.isLeader }
                try await eventually("first stepped down") { !first.leadership.isLeader }
            }
        }
    }

    @Test func fencedWritesFailAfterLosingTheLeaderKey() async throws {
        let store = InMemoryDatastore()
        let controller = makeController(store)
        try await running([controller]) {
            try await eventually("leads") { controller.leadership.isLeader }
            // Someone else takes the leader key (e.g. after this instance's lease expired).
            try await store.delete(StoreKeys.leader)
            try await store.put(StoreKeys.leader, value: RecordCodec.encode(LeaderRecord(identity: "usurper", since: Timestamp(seconds: 0))), lease: nil)
            try await store.put(StoreKeys.claim(.must("n1")), value: claim(1), lease: nil)
            try await eventually("steps down") { !controller.leadership.isLeader }
            #expect(try await store.get(StoreKeys.peer(.must("n1"))) == nil)
        }
    }
}
