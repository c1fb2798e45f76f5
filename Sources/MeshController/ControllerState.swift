import MeshCodec
import MeshCore

/// The controller's copy of the records it judges and writes, kept from a list plus watch.
struct ControllerState: Sendable {
    private(set) var claims: [String: KeyValue] = [:]
    private(set) var peers: [String: KeyValue] = [:]
    private(set) var verdicts: [String: KeyValue] = [:]
    private(set) var removals: [String: KeyValue] = [:]
    private(set) var pools: KeyValue?
    private(set) var revision: Revision = 0
    /// The claims, peer records and verdicts decoded once, when they are set: a plan runs on
    /// every change and decoding every record each time was most of the controller's work in
    /// a thousand-node mesh. Claims under a key that is not a node name, and peer records and
    /// verdicts that do not decode, are left out.
    private(set) var claimInputs: [String: ClaimInput] = [:]
    private(set) var peerRecords: [String: PeerRecord] = [:]
    private(set) var verdictRecords: [String: VerdictRecord] = [:]

    mutating func reset(to listing: Listing) {
        self = ControllerState()
        for kv in listing.items { _ = apply(.put(kv)) }
        revision = listing.revision
    }

    /// Keys this controller wrote, with the revision of that write, until the watch delivers it.
    private var unseenOwnWrites: [String: Revision] = [:]

    /// Applies an event; returns whether the controller has to re-run validation.
    ///
    /// An event older than this controller's own write of the same key is ignored: the write
    /// is already in the state (``applyOwnWrites(_:at:)``), and the watch may still be
    /// delivering what came before it.
    mutating func apply(_ event: WatchEvent) -> Bool {
        revision = max(revision, event.revision)
        let key = event.key
        if let written = unseenOwnWrites[key] {
            if event.revision < written { return false }
            unseenOwnWrites[key] = nil
        }
        let value: KeyValue? = if case .put(let kv) = event { kv } else { nil }
        return set(key, value)
    }

    /// Records the controller's own committed writes at once, as the store now holds them.
    ///
    /// Why: under load the watch delivers them late — after other changes, each of which
    /// re-runs validation. Judged against a state without its own last writes, the controller
    /// wrote the same peers and verdicts again and again (at 100 nodes on etcd: 128 writes of
    /// each node's records while the mesh formed, and seconds of delay for a new node's key).
    mutating func applyOwnWrites(_ operations: [TransactionOperation], at written: Revision) {
        for operation in operations {
            switch operation {
            case .put(let key, let value, let lease):
                let old = current(key)
                _ = set(key, KeyValue(key: key, value: value, createRevision: old?.createRevision ?? written,
                                      modRevision: written, version: (old?.version ?? 0) + 1, lease: lease))
                unseenOwnWrites[key] = written
            case .delete(let key):
                _ = set(key, nil)
                unseenOwnWrites[key] = written
            }
        }
    }

    private static var perNode: [(String, WritableKeyPath<ControllerState, [String: KeyValue]>)] { [
        (StoreKeys.claimsPrefix, \.claims), (StoreKeys.peersPrefix, \.peers),
        (StoreKeys.verdictsPrefix, \.verdicts), (StoreKeys.removalsPrefix, \.removals),
    ] }

    private func current(_ key: String) -> KeyValue? {
        if key == StoreKeys.pools { return pools }
        for (prefix, path) in Self.perNode {
            if let node = StoreKeys.nodeSuffix(of: key, prefix: prefix) { return self[keyPath: path][node] }
        }
        return nil
    }

    /// Sets or clears one record; returns whether it is one the controller judges by.
    private mutating func set(_ key: String, _ value: KeyValue?) -> Bool {
        if key == StoreKeys.pools { pools = value; return true }
        for (prefix, path) in Self.perNode {
            if let node = StoreKeys.nodeSuffix(of: key, prefix: prefix) {
                self[keyPath: path][node] = value
                decode(node, prefix, value)
                return true
            }
        }
        return false
    }

    private mutating func decode(_ node: String, _ prefix: String, _ value: KeyValue?) {
        switch prefix {
        case StoreKeys.claimsPrefix:
            claimInputs[node] = value.flatMap { kv in (try? NodeName(node)).map { ClaimInput.from(kv, node: $0) } }
        case StoreKeys.peersPrefix:
            peerRecords[node] = value.flatMap { try? RecordCodec.decode(PeerRecord.self, from: $0.value, key: $0.key) }
        case StoreKeys.verdictsPrefix:
            verdictRecords[node] = value.flatMap { try? RecordCodec.decode(VerdictRecord.self, from: $0.value, key: $0.key) }
        default:
            break
        }
    }
}

/// Store operations that bring the store to what validation decided.
struct ControllerPlan: Sendable, Equatable {
    var operations: [TransactionOperation] = []
    /// One line per decision, for the log.
    var decisions: [String] = []
}

/// Decides the writes for the current state. Pure apart from encoding: tested with tables.
func planControllerWrites(_ state: ControllerState, pools: [IPPrefix], poolsRecord: [UInt8]) -> ControllerPlan {
    var plan = ControllerPlan()
    if state.pools?.value != poolsRecord {
        plan.operations.append(.put(key: StoreKeys.pools, value: poolsRecord, lease: nil))
    }

    // Removals requested by `meshguard node remove` go first and win over everything else.
    var removed: Set<String> = []
    for (raw, _) in state.removals.sorted(by: { $0.key < $1.key }) {
        removed.insert(raw)
        guard let node = try? NodeName(raw) else {
            plan.operations.append(.delete(key: StoreKeys.removalsPrefix + raw))
            continue
        }
        for key in [StoreKeys.peer(node), StoreKeys.verdict(node), StoreKeys.claim(node), StoreKeys.status(node)] {
            plan.operations.append(.delete(key: key))
        }
        plan.operations.append(.delete(key: StoreKeys.removal(node)))
        plan.decisions.append("removed node \(node) (peer record, verdict, claim and status deleted)")
    }

    // A claim under a key that is not a node name cannot get a verdict key; it is ignored
    // (it has no decoded input).
    let claims = state.claimInputs.filter { !removed.contains($0.key) }.sorted { $0.key < $1.key }.map(\.value)
    var accepted: [NodeName: AcceptedInput] = [:]
    for (raw, record) in state.peerRecords where !removed.contains(raw) {
        guard let node = try? NodeName(raw), let kv = state.peers[raw] else { continue }
        accepted[node] = AcceptedInput(record: record, createRevision: kv.createRevision)
    }

    let outcome = validateClaims(claims, pools: pools, accepted: accepted)

    // Records are compared decoded: only what changed is encoded. A stored record that
    // decodes to the same value is left as it is, whatever its bytes.
    for (node, record) in outcome.peers.sorted(by: { $0.key < $1.key }) where state.peerRecords[node.rawValue] != record {
        plan.operations.append(.put(key: StoreKeys.peer(node), value: RecordCodec.encode(record), lease: nil))
    }
    // A peer record that does not decode (written by someone else) is replaced or removed.
    for (raw, _) in state.peers where !removed.contains(raw) {
        if let node = try? NodeName(raw), outcome.peers[node] != nil { continue }
        plan.operations.append(.delete(key: StoreKeys.peersPrefix + raw))
    }
    for (node, verdict) in outcome.verdicts.sorted(by: { $0.key < $1.key }) {
        let old = state.verdictRecords[node.rawValue]
        guard old != verdict else { continue }
        plan.operations.append(.put(key: StoreKeys.verdict(node), value: RecordCodec.encode(verdict), lease: nil))
        if old?.state != verdict.state || old?.reasons != verdict.reasons {
            plan.decisions.append(verdict.state == .accepted
                ? "accepted node \(node)"
                : "rejected claim of node \(node)\(verdict.keptPrevious ? " (its previous record stays in force)" : ""): \(verdict.reasons.joined(separator: "; "))")
        }
    }
    // Verdicts of nodes with neither a claim nor a peer record are stale.
    for (raw, _) in state.verdicts where !removed.contains(raw) {
        let node = try? NodeName(raw)
        if let node, outcome.verdicts[node] != nil || outcome.peers[node] != nil { continue }
        plan.operations.append(.delete(key: StoreKeys.verdictsPrefix + raw))
    }
    return plan
}
