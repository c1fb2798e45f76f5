/// What `meshguard status` shows: the cluster's settings, every node's standing, and which
/// node-to-node paths are not (known to be) encrypted. Built from store records only.
public struct ClusterReport: Codable, Hashable, Sendable {
    public struct Node: Codable, Hashable, Sendable {
        public enum Standing: String, Codable, Sendable {
            /// Claim accepted; the agent is running.
            case accepted
            /// The latest claim was rejected (a previous accepted record may still be in force).
            case rejected
            /// Claim present, not judged yet (no controller, or it is catching up).
            case pending
            /// Accepted earlier; its agent is not running (claim lease expired).
            case silent
        }
        public var name: String
        public var standing: Standing
        public var reasons: [String]
        public var address: String?
        public var podCIDRs: [String]
        public var publicKeyFingerprint: String?
        public var agentRunning: Bool
        public var backend: WireGuardBackendKind?
        public var inSync: Bool?
        /// The store revision whose mesh the agent last applied without error (from its status).
        public var appliedRevision: Revision?
        public var peersProgrammed: Int?
        /// Other accepted nodes this node should have as peers.
        public var peersExpected: Int
        /// The most recent handshake with any peer, and the oldest among peers that have one.
        public var latestHandshake: Timestamp?
        public var rxBytes: UInt64
        public var txBytes: UInt64
        public var lastError: String?
    }

    public struct Path: Codable, Hashable, Sendable {
        public var from: String
        public var to: String
        public var reason: String
    }

    public var configured: Bool
    public var enabled: Bool
    public var strict: Bool
    public var controller: String?
    public var pools: [String]
    public var nodes: [Node]
    /// Paths whose traffic goes over the underlay in plain text.
    public var plaintextPaths: [Path]
    /// Strict mode: paths with no tunnel yet, whose traffic is dropped instead.
    public var blockedPaths: [Path]
    /// Paths whose sending agent reports nothing, so encryption cannot be confirmed.
    public var unverifiedPaths: [Path]
    public var encryptedPaths: Int
}

/// Store records as `meshguard status` reads them. Values that did not decode are passed as nil
/// with the key listed in `undecodable`.
public struct ClusterRecords: Sendable {
    public var config: ClusterConfig?
    public var pools: [String]
    public var leader: LeaderRecord?
    public var claims: [String: ClaimRecord]
    /// Nodes with a claim key in the store, including claims that did not decode.
    public var claimKeys: Set<String>
    public var peers: [String: PeerRecord]
    /// The store revision of each peer record's last write: an agent whose status lists no
    /// peers (a large mesh) has programmed a peer once its applied revision reaches it.
    public var peerRevisions: [String: Revision]
    public var verdicts: [String: VerdictRecord]
    public var statuses: [String: NodeStatusRecord]

    public init(config: ClusterConfig?, pools: [String], leader: LeaderRecord?, claims: [String: ClaimRecord],
                claimKeys: Set<String>? = nil, peers: [String: PeerRecord], peerRevisions: [String: Revision] = [:],
                verdicts: [String: VerdictRecord], statuses: [String: NodeStatusRecord]) {
        self.config = config
        self.pools = pools
        self.leader = leader
        self.claims = claims
        self.claimKeys = claimKeys ?? Set(claims.keys)
        self.peers = peers
        self.peerRevisions = peerRevisions
        self.verdicts = verdicts
        self.statuses = statuses
    }
}

public func buildClusterReport(_ r: ClusterRecords) -> ClusterReport {
    let enabled = r.config?.enabled ?? false
    let strict = r.config?.strict ?? false
    let names = r.claimKeys.union(r.claims.keys).union(r.peers.keys).union(r.verdicts.keys).union(r.statuses.keys).sorted()

    var nodes: [ClusterReport.Node] = []
    for name in names {
        let claim = r.claims[name], peer = r.peers[name], verdict = r.verdicts[name], status = r.statuses[name]
        let claimed = r.claimKeys.contains(name) || claim != nil
        let standing: ClusterReport.Node.Standing
        if let verdict, verdict.state == .rejected, claimed {
            standing = .rejected
        } else if peer != nil {
            standing = claimed ? .accepted : .silent
        } else {
            standing = .pending
        }
        let expected = r.peers.keys.filter { $0 != name }.count
        let totals = status?.peerTotals
        nodes.append(ClusterReport.Node(
            name: name, standing: standing, reasons: standing == .rejected ? verdict?.reasons ?? [] : [],
            address: claim?.address ?? peer.map { $0.endpoint }, podCIDRs: peer?.allowedIPs ?? claim?.podCIDRs ?? [],
            publicKeyFingerprint: (claim?.publicKey ?? peer?.publicKey).map { String($0.prefix(8)) },
            agentRunning: claimed, backend: status?.backend, inSync: status?.inSync, appliedRevision: status?.appliedRevision,
            peersProgrammed: totals?.count, peersExpected: expected,
            latestHandshake: totals?.latestHandshake, rxBytes: totals?.rxBytes ?? 0,
            txBytes: totals?.txBytes ?? 0, lastError: status?.lastError))
    }

    var plaintext: [ClusterReport.Path] = [], blocked: [ClusterReport.Path] = [], unverified: [ClusterReport.Path] = []
    var encrypted = 0
    for from in names {
        for to in names where to != from {
            guard enabled else {
                plaintext.append(.init(from: from, to: to, reason: "encryption is disabled"))
                continue
            }
            guard let target = r.peers[to] else {
                let why = r.verdicts[to]?.state == .rejected ? "\(to)'s claim was rejected" : "\(to) has no accepted key"
                (strict ? { blocked.append($0) } : { plaintext.append($0) })(.init(from: from, to: to, reason: why))
                continue
            }
            guard let status = r.statuses[from] else {
                unverified.append(.init(from: from, to: to, reason: "\(from)'s agent reports no status"))
                continue
            }
            if let why = notProgrammed(to, target, by: status, revision: r.peerRevisions[to]) {
                (strict ? { blocked.append($0) } : { plaintext.append($0) })(.init(from: from, to: to, reason: "\(from) \(why)"))
            } else {
                encrypted += 1
            }
        }
    }
    return ClusterReport(configured: r.config != nil, enabled: enabled, strict: strict, controller: r.leader?.identity,
                         pools: r.pools, nodes: nodes, plaintextPaths: plaintext, blockedPaths: blocked,
                         unverifiedPaths: unverified, encryptedPaths: encrypted)
}

/// Why `status`'s node does not (yet) encrypt to `node`, or nil when it does.
///
/// A status that lists its peers shows the key itself: the path is encrypted when the peer is
/// listed with the accepted key's fingerprint. A status of a large mesh lists none; then the
/// path is encrypted when the agent applied a store revision at or after the peer record's
/// last write (`revision`) without leaving the record out.
private func notProgrammed(_ node: String, _ target: PeerRecord, by status: NodeStatusRecord, revision: Revision?) -> String? {
    guard status.enabled else { return "has encryption off" }
    if status.peerTotals.listed {
        let fingerprint = String(target.publicKey.prefix(8))
        return status.peers.contains { $0.node == node && $0.publicKeyFingerprint == fingerprint }
            ? nil : "has not programmed \(node)'s key yet"
    }
    if status.incompletePeers?.contains(node) == true { return "could not program \(node)'s record (see its agent's log)" }
    guard let revision, status.appliedRevision >= revision else { return "has not applied \(node)'s record yet" }
    return nil
}
