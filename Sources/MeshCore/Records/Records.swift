/// Cluster-wide settings, written by `meshguard enable|disable`.
public struct ClusterConfig: Codable, Hashable, Sendable {
    /// Encrypt pod-to-pod traffic between nodes. Off: agents remove device, rule and routes.
    public var enabled: Bool
    /// Refuse plaintext: pod CIDRs with no accepted key become unreachable instead of falling
    /// back to unencrypted routing.
    public var strict: Bool
    /// Device MTU override; nil = underlay MTU − 60 (IPv4) on each node.
    public var mtu: Int?
    /// Persistent keepalive, seconds; 0 = off.
    public var persistentKeepalive: Int

    public init(enabled: Bool, strict: Bool, mtu: Int? = nil, persistentKeepalive: Int = 0) {
        self.enabled = enabled
        self.strict = strict
        self.mtu = mtu
        self.persistentKeepalive = persistentKeepalive
    }
}

/// The cluster's pod CIDR pools, published by the controller from its flags. Claims must fall
/// inside them; in strict mode agents make the rest of the pools unreachable.
public struct PoolsRecord: Codable, Hashable, Sendable {
    public var podCIDRPools: [String]
    public init(podCIDRPools: [String]) { self.podCIDRPools = podCIDRPools }
}

/// What a node says about itself. Written by its agent under the agent's lease. Fields are kept
/// as text so that a malformed value still decodes and the controller can say what is wrong.
public struct ClaimRecord: Codable, Hashable, Sendable {
    public var node: String
    /// Base64 public key (44 characters).
    public var publicKey: String
    /// Increases with every key rotation.
    public var keyGeneration: Int
    /// During a rotation: the key the node will switch to. Reserved for rotation.
    public var nextPublicKey: String?
    /// The underlay address peers send encrypted traffic to.
    public var address: String
    public var listenPort: Int
    public var podCIDRs: [String]
    /// Free text for operators: the agent's version.
    public var agent: String?

    public init(node: String, publicKey: String, keyGeneration: Int = 1, nextPublicKey: String? = nil,
                address: String, listenPort: Int, podCIDRs: [String], agent: String? = nil) {
        self.node = node
        self.publicKey = publicKey
        self.keyGeneration = keyGeneration
        self.nextPublicKey = nextPublicKey
        self.address = address
        self.listenPort = listenPort
        self.podCIDRs = podCIDRs
        self.agent = agent
    }
}

/// A validated, accepted peer: the only thing agents program. Written by the controller.
public struct PeerRecord: Codable, Hashable, Sendable {
    public var node: String
    public var publicKey: String
    public var keyGeneration: Int
    public var nextPublicKey: String?
    /// `address:port` (or `[v6]:port`).
    public var endpoint: String
    /// The node's pod CIDRs: its AllowedIPs and the routes other nodes send through the tunnel.
    public var allowedIPs: [String]
    /// The revision of the claim this record was accepted from: the first claim with this
    /// content (a claim put again unchanged does not rewrite the record).
    public var claimRevision: Revision

    public init(node: String, publicKey: String, keyGeneration: Int, nextPublicKey: String? = nil, endpoint: String,
                allowedIPs: [String], claimRevision: Revision) {
        self.node = node
        self.publicKey = publicKey
        self.keyGeneration = keyGeneration
        self.nextPublicKey = nextPublicKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.claimRevision = claimRevision
    }
}

/// The controller's judgement of a node's latest claim.
public struct VerdictRecord: Codable, Hashable, Sendable {
    public enum State: String, Codable, Sendable { case accepted, rejected }
    public var node: String
    public var state: State
    /// Why the claim was rejected (empty when accepted). Each names the field and the problem.
    public var reasons: [String]
    public var claimRevision: Revision
    /// True when a rejected claim left an earlier accepted record in force.
    public var keptPrevious: Bool
    /// Pod CIDRs of this node that are valid and owned by it, for routing while it has no
    /// accepted key (throw or unreachable).
    public var ownedCIDRs: [String]

    public init(node: String, state: State, reasons: [String], claimRevision: Revision, keptPrevious: Bool = false,
                ownedCIDRs: [String] = []) {
        self.node = node
        self.state = state
        self.reasons = reasons
        self.claimRevision = claimRevision
        self.keptPrevious = keptPrevious
        self.ownedCIDRs = ownedCIDRs
    }
}

/// What an agent has programmed. Written by the agent under its lease.
public struct NodeStatusRecord: Codable, Hashable, Sendable {
    public struct Peer: Codable, Hashable, Sendable {
        public var node: String
        public var publicKeyFingerprint: String
        public var endpoint: String?
        public var allowedIPs: [String]
        public var lastHandshake: Timestamp?
        public var rxBytes: UInt64
        public var txBytes: UInt64
        public init(node: String, publicKeyFingerprint: String, endpoint: String?, allowedIPs: [String],
                    lastHandshake: Timestamp?, rxBytes: UInt64, txBytes: UInt64) {
            self.node = node
            self.publicKeyFingerprint = publicKeyFingerprint
            self.endpoint = endpoint
            self.allowedIPs = allowedIPs
            self.lastHandshake = lastHandshake
            self.rxBytes = rxBytes
            self.txBytes = txBytes
        }
    }
    /// Sums over every programmed peer, whether or not ``NodeStatusRecord/peers`` lists them.
    public struct PeerTotals: Codable, Hashable, Sendable {
        /// Peers programmed on the device.
        public var count: Int
        /// Whether ``NodeStatusRecord/peers`` lists each of them. An agent lists peers up to
        /// its `--status-peer-limit`; above it the status carries these sums only, and a path
        /// counts as encrypted by the applied revision instead of the peer's fingerprint.
        public var listed: Bool
        /// The most recent handshake with any peer.
        public var latestHandshake: Timestamp?
        public var rxBytes: UInt64
        public var txBytes: UInt64

        public init(count: Int, listed: Bool, latestHandshake: Timestamp?, rxBytes: UInt64, txBytes: UInt64) {
            self.count = count
            self.listed = listed
            self.latestHandshake = latestHandshake
            self.rxBytes = rxBytes
            self.txBytes = txBytes
        }

        /// The sums of a complete listing.
        public init(listing peers: [Peer]) {
            self.init(count: peers.count, listed: true, latestHandshake: peers.compactMap(\.lastHandshake).max(),
                      rxBytes: peers.reduce(0) { $0 &+ $1.rxBytes }, txBytes: peers.reduce(0) { $0 &+ $1.txBytes })
        }
    }
    public var node: String
    public var backend: WireGuardBackendKind?
    public var interface: String
    public var enabled: Bool
    public var strict: Bool
    public var publicKeyFingerprint: String
    /// Each programmed peer; empty when there are more than the agent lists (see ``totals``).
    public var peers: [Peer]
    /// nil only in statuses written before totals existed; ``peerTotals`` fills them in.
    public var totals: PeerTotals?
    /// Accepted peers whose record this agent could not program in full (an unusable key,
    /// endpoint or CIDR; each is in the agent's log), by node name. nil when there are none.
    public var incompletePeers: [String]?
    /// Store revision of the mesh state last applied without error.
    public var appliedRevision: Revision
    public var inSync: Bool
    public var lastError: String?
    public var updatedAt: Timestamp

    /// `totals` nil means "the sums of `peers`, all listed".
    public init(node: String, backend: WireGuardBackendKind?, interface: String, enabled: Bool, strict: Bool,
                publicKeyFingerprint: String, peers: [Peer], totals: PeerTotals? = nil, incompletePeers: [String]? = nil,
                appliedRevision: Revision, inSync: Bool, lastError: String?, updatedAt: Timestamp) {
        self.node = node
        self.backend = backend
        self.interface = interface
        self.enabled = enabled
        self.strict = strict
        self.publicKeyFingerprint = publicKeyFingerprint
        self.peers = peers
        self.totals = totals ?? PeerTotals(listing: peers)
        self.incompletePeers = incompletePeers
        self.appliedRevision = appliedRevision
        self.inSync = inSync
        self.lastError = lastError
        self.updatedAt = updatedAt
    }

    /// ``totals``, or the sums of ``peers`` for a status that has none.
    public var peerTotals: PeerTotals { totals ?? PeerTotals(listing: peers) }
}

/// A request from `meshguard node remove` that the controller carries out.
public struct RemovalRecord: Codable, Hashable, Sendable {
    public var node: String
    public var requestedAt: Timestamp
    public init(node: String, requestedAt: Timestamp) {
        self.node = node
        self.requestedAt = requestedAt
    }
}

/// Who is the active controller.
public struct LeaderRecord: Codable, Hashable, Sendable {
    public var identity: String
    public var since: Timestamp
    public init(identity: String, since: Timestamp) {
        self.identity = identity
        self.since = since
    }
}
