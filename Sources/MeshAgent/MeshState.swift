import Logging
import MeshCodec
import MeshCore

/// The agent's copy of the store records that matter to it, built from a list and then kept
/// current from watch events. A record that does not decode is reported and the last good value
/// for that key is kept, so one corrupt value never takes down the node's data plane.
struct MeshState: Sendable {
    private(set) var view = MeshView()
    /// Revision of the last list or event applied.
    private(set) var revision: Revision = 0
    /// Keys whose current value did not decode, with the reason.
    private(set) var corrupt: [String: String] = [:]
    /// Whether this node's own claim is present in the store.
    private(set) var ownClaimPresent = false
    /// What changed in `view` since the last ``takeChanges()``.
    private var changes = ViewChanges.everything
    let node: NodeName

    init(node: NodeName) { self.node = node }

    /// Replaces everything with a full listing of the root prefix.
    mutating func reset(to listing: Listing) {
        view = MeshView()
        corrupt = [:]
        ownClaimPresent = false
        for kv in listing.items { apply(.put(kv)) }
        revision = listing.revision
        changes = .everything
    }

    /// What changed in the view since the last call.
    mutating func takeChanges() -> ViewChanges {
        defer { changes = ViewChanges() }
        return changes
    }

    /// Applies one event. Returns whether it can change this node's data plane: config, pools,
    /// peer records and rejected verdicts can; claims, accepted verdicts and statuses cannot.
    @discardableResult
    mutating func apply(_ event: WatchEvent) -> Bool {
        revision = max(revision, event.revision)
        let key = event.key
        switch event {
        case .put(let kv):
            return put(kv)
        case .delete:
            corrupt[key] = nil
            if key == StoreKeys.config { view.config = nil; changes.addEverything(); return true }
            if key == StoreKeys.pools { view.pools = []; changes.addEverything(); return true }
            if key == StoreKeys.claim(node) { ownClaimPresent = false; return false }
            if let node = nodeName(key, StoreKeys.peersPrefix) {
                guard view.peers.removeValue(forKey: node) != nil else { return false }
                changes.add(node)
                return true
            }
            if let node = nodeName(key, StoreKeys.verdictsPrefix) {
                guard view.verdicts.removeValue(forKey: node)?.state == .rejected else { return false }
                changes.addEverything()
                return true
            }
            return false
        }
    }

    private mutating func put(_ kv: KeyValue) -> Bool {
        let key = kv.key
        do throws(MeshError) {
            if key == StoreKeys.config {
                view.config = try RecordCodec.decode(ClusterConfig.self, from: kv.value, key: key)
                changes.addEverything()
            } else if key == StoreKeys.pools {
                let record = try RecordCodec.decode(PoolsRecord.self, from: kv.value, key: key)
                view.pools = try record.podCIDRPools.map { text throws(MeshError) in try IPPrefix(text) }
                changes.addEverything()
            } else if key == StoreKeys.claim(node) {
                ownClaimPresent = true
                return false
            } else if let node = nodeName(key, StoreKeys.peersPrefix) {
                view.peers[node] = try RecordCodec.decode(PeerRecord.self, from: kv.value, key: key)
                changes.add(node)
            } else if let node = nodeName(key, StoreKeys.verdictsPrefix) {
                let verdict = try RecordCodec.decode(VerdictRecord.self, from: kv.value, key: key)
                let old = view.verdicts.updateValue(verdict, forKey: node)
                corrupt[key] = nil
                // Only rejected verdicts shape the data plane (fallback routes for the CIDRs
                // they own). An accepted verdict renewed for a claim published again needs no
                // pass; in a thousand-node mesh every agent ran one for each.
                guard verdict.state == .rejected || old?.state == .rejected else { return false }
                changes.addEverything()
                return true
            } else {
                return false
            }
            corrupt[key] = nil
            return true
        } catch {
            corrupt[key] = error.message
            return false
        }
    }

    private func nodeName(_ key: String, _ prefix: String) -> NodeName? {
        StoreKeys.nodeSuffix(of: key, prefix: prefix).flatMap { try? NodeName($0) }
    }
}

/// What changed in a ``MeshView`` between two passes: the nodes whose peer records were put or
/// deleted, or everything (a re-list; the config, the pools or a rejected verdict changed).
/// A pass works out only the changed peers when it can (``updateDataplane(_:settings:view:changed:cache:)``).
struct ViewChanges: Equatable, Sendable {
    private(set) var peers: Set<NodeName> = []
    private(set) var everything = false

    static let everything = ViewChanges(peers: [], everything: true)

    mutating func add(_ node: NodeName) {
        guard !everything else { return }
        peers.insert(node)
        // More than a pass works out one by one: forget the names, the pass computes in full.
        if peers.count > updateDataplaneLimit { addEverything() }
    }

    mutating func addEverything() {
        everything = true
        peers = []
    }

    mutating func formUnion(_ other: ViewChanges) {
        if other.everything { addEverything() }
        for node in other.peers { add(node) }
    }
}
