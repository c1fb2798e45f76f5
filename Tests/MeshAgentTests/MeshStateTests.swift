@testable import MeshAgent
import MeshCodec
import MeshCore
import MeshTestKit
import Testing

/// Which store events can change a node's data plane, and so wake a pass. In a large mesh
/// every event that wakes a pass costs every node one; those that cannot change anything must
/// not.
@Suite struct MeshStateRelevance {
    static func kv(_ key: String, _ value: [UInt8], revision: Revision) -> KeyValue {
        KeyValue(key: key, value: value, createRevision: revision, modRevision: revision, version: 1, lease: nil)
    }
    static func verdict(_ state: VerdictRecord.State, revision: Revision) -> WatchEvent {
        .put(kv(StoreKeys.verdict(.must("n2")), RecordCodec.encode(VerdictRecord(node: "n2", state: state, reasons: [],
                                                                                   claimRevision: revision)), revision: revision))
    }
    static let peer = WatchEvent.put(kv(StoreKeys.peer(.must("n2")), RecordCodec.encode(PeerRecord(
        node: "n2", publicKey: PublicKey.fixture("n2").base64, keyGeneration: 1, endpoint: "192.168.77.12:51830",
        allowedIPs: ["10.244.2.0/24"], claimRevision: 2)), revision: 3))
    static let claim = WatchEvent.put(kv(StoreKeys.claim(.must("n2")), Array("{}".utf8), revision: 2))
    static let config = WatchEvent.put(kv(StoreKeys.config, RecordCodec.encode(ClusterConfig(enabled: true, strict: false)), revision: 1))

    struct Case: Sendable, CustomTestStringConvertible {
        var testDescription: String
        /// Applied first, relevance not checked.
        var before: [WatchEvent]
        var event: WatchEvent
        var relevant: Bool
        /// What the next pass is told changed: nothing, n2's peer, or everything.
        var changes: ViewChanges

        init(testDescription: String, before: [WatchEvent], event: WatchEvent, relevant: Bool, changes: ViewChanges? = nil) {
            self.testDescription = testDescription
            self.before = before
            self.event = event
            self.relevant = relevant
            self.changes = changes ?? (relevant ? .everything : ViewChanges())
        }
    }

    static var n2: ViewChanges {
        var changes = ViewChanges()
        changes.add(.must("n2"))
        return changes
    }

    static let cases: [Case] = [
        Case(testDescription: "config", before: [], event: config, relevant: true),
        Case(testDescription: "a peer record", before: [], event: peer, relevant: true, changes: n2),
        Case(testDescription: "a peer record deleted", before: [peer], event: .delete(key: StoreKeys.peer(.must("n2")), revision: 9),
             relevant: true, changes: n2),
        Case(testDescription: "a peer record deleted that was never there", before: [],
             event: .delete(key: StoreKeys.peer(.must("n2")), revision: 9), relevant: false),
        Case(testDescription: "another node's claim", before: [], event: claim, relevant: false),
        Case(testDescription: "a first accepted verdict", before: [], event: verdict(.accepted, revision: 4), relevant: false),
        Case(testDescription: "an accepted verdict renewed", before: [verdict(.accepted, revision: 4)],
             event: verdict(.accepted, revision: 8), relevant: false),
        Case(testDescription: "a rejection", before: [verdict(.accepted, revision: 4)], event: verdict(.rejected, revision: 8), relevant: true),
        Case(testDescription: "a rejection lifted", before: [verdict(.rejected, revision: 4)], event: verdict(.accepted, revision: 8), relevant: true),
        Case(testDescription: "an accepted verdict deleted", before: [verdict(.accepted, revision: 4)],
             event: .delete(key: StoreKeys.verdict(.must("n2")), revision: 9), relevant: false),
        Case(testDescription: "a rejected verdict deleted", before: [verdict(.rejected, revision: 4)],
             event: .delete(key: StoreKeys.verdict(.must("n2")), revision: 9), relevant: true),
        Case(testDescription: "a status", before: [],
             event: .put(kv(StoreKeys.status(.must("n2")), Array("{}".utf8), revision: 5)), relevant: false),
    ]

    @Test func changesStartAsEverythingAndTooManyPeersBecomeEverything() {
        var state = MeshState(node: .must("n1"))
        #expect(state.takeChanges() == .everything, "the first pass computes in full")
        #expect(state.takeChanges() == ViewChanges())
        var changes = ViewChanges()
        for n in 0...updateDataplaneLimit { changes.add(.must("n\(n)")) }
        #expect(changes == .everything)
        state.reset(to: Listing(items: [], revision: 4))
        #expect(state.takeChanges() == .everything, "a re-list")
    }

    @Test(arguments: cases)
    func relevance(_ c: Case) {
        var state = MeshState(node: .must("n1"))
        for event in c.before { state.apply(event) }
        _ = state.takeChanges()
        #expect(state.apply(c.event) == c.relevant)
        #expect(state.takeChanges() == c.changes)
        #expect(state.revision == max(c.event.revision, c.before.map(\.revision).max() ?? 0))
    }
}

/// When the agent publishes its claim again: only when a view that has caught up with its own
/// last write of the claim lacks it. A lagging watch alone must not make it write again.
@Suite struct ClaimPresence {
    let claimKey = StoreKeys.claim(.must("n1"))
    func put(_ key: String, at revision: Revision) -> WatchEvent {
        .put(KeyValue(key: key, value: Array("{}".utf8), createRevision: revision, modRevision: revision, version: 1, lease: nil))
    }

    @Test func aViewBehindTheAgentsOwnWriteProvesNothing() async {
        let state = AgentState(node: .must("n1"))
        #expect(await !state.claimMissing(), "before the first listing")
        await state.reset(to: Listing(items: [], revision: 5))
        await state.claimWritten(at: 7)
        #expect(await !state.claimMissing(), "the view is at 5, the claim was written at 7")
        _ = await state.apply([put(StoreKeys.config, at: 6)])
        #expect(await !state.claimMissing(), "still behind")
        _ = await state.apply([put(claimKey, at: 7)])
        #expect(await !state.claimMissing())
        _ = await state.apply([.delete(key: claimKey, revision: 9)])
        #expect(await state.claimMissing(), "deleted after the agent's write")
        await state.claimWritten(at: 10)
        #expect(await !state.claimMissing(), "written again, not yet seen")
        // A re-list past the write that lacks the claim: gone.
        await state.reset(to: Listing(items: [], revision: 12))
        #expect(await state.claimMissing())
    }
}
