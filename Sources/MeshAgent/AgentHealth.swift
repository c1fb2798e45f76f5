public import MeshCore
import Synchronization

/// The agent's health as the HTTP endpoints report it. Written by the agent's loops, read by
/// `/healthz` and `/readyz`.
public final class AgentHealth: Sendable {
    public struct Snapshot: Sendable, Equatable {
        /// The store answered the last list or watch.
        public var storeReachable = false
        /// The agent has read the whole store at least once.
        public var fullSyncDone = false
        /// The last reconcile pass succeeded.
        public var lastApplyOK = false
        /// Highest store revision seen, and the one whose state is on the data plane.
        public var knownRevision: Revision = 0
        public var appliedRevision: Revision = 0
        public var lastError: String?
        public var backend: WireGuardBackendKind?

        /// Ready means in sync with the store: reachable, fully read, and the latest state applied.
        public var ready: Bool { storeReachable && fullSyncDone && lastApplyOK && appliedRevision >= knownRevision }

        /// Why the agent is not ready, for `/readyz`.
        public var reason: String {
            if !fullSyncDone { return "has not read the datastore yet" + (lastError.map { ": \($0)" } ?? "") }
            if !storeReachable { return "datastore unreachable" + (lastError.map { ": \($0)" } ?? "") }
            if !lastApplyOK { return "last apply failed" + (lastError.map { ": \($0)" } ?? "") }
            if appliedRevision < knownRevision { return "applying revision \(knownRevision) (applied \(appliedRevision))" }
            return "in sync at revision \(appliedRevision)"
        }
    }

    private let state = Mutex(Snapshot())

    public init() {}

    public var snapshot: Snapshot { state.withLock { $0 } }

    func update(_ body: (inout Snapshot) -> Void) {
        state.withLock { body(&$0) }
    }
}
