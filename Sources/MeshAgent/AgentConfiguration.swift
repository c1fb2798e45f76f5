public import MeshCore

/// Everything about how one agent runs, beyond the node's data-plane settings.
public struct AgentConfiguration: Sendable {
    public var settings: NodeSettings
    /// TTL of the lease that holds this node's claim and status. The controller treats a claim
    /// that vanished (lease expired) as a silent agent, not as a departed node.
    public var leaseTTL: Int64
    /// How often the device and routes are read back and corrected even without store changes
    /// (catches wireguard-go dying, routes deleted by hand).
    public var resyncInterval: Duration
    /// How often status (handshakes, byte counters) is written to the store.
    public var statusInterval: Duration
    /// The least time between two status writes made because something changed: a burst of
    /// changes costs one write of a status that lists every peer, not one per change.
    public var statusMinInterval: Duration
    /// How many status writes a second the whole cluster makes, at most, for changes and for
    /// the periodic refresh: in a mesh of N nodes each agent spaces its writes at least N / this
    /// many seconds apart (and never closer than `statusMinInterval` or `statusInterval`). A
    /// thousand agents writing every second buried the changes that matter in etcd's history:
    /// a watcher that fell behind had a thousand status revisions a second to skip through.
    /// The default, 200, leaves meshes of up to 200 nodes with the default one-second spacing.
    public var clusterStatusWritesPerSecond: Int
    /// The most peers a status lists one by one. Above it the status carries sums only: at a
    /// thousand nodes a full list is about 100 KB per node, and every node rewrites its
    /// status after each change (a hundred megabytes into the datastore per new key).
    /// Per-peer figures stay in the agent's metrics.
    public var statusPeerLimit: Int
    /// Retry delays after a failed store or data-plane operation. Capped at 2 s so that an
    /// agent is back in sync within seconds of the datastore's return, however long it was
    /// gone; one attempt per 2 s and agent is little load for a recovering store.
    public var backoff: Backoff
    /// Shown in the claim for operators.
    public var agentVersion: String

    public init(settings: NodeSettings, leaseTTL: Int64 = 15, resyncInterval: Duration = .seconds(10),
                statusInterval: Duration = .seconds(10), statusMinInterval: Duration = .seconds(1), statusPeerLimit: Int = 128,
                clusterStatusWritesPerSecond: Int = 200,
                backoff: Backoff = Backoff(maximum: .seconds(2)), agentVersion: String = "meshguard") {
        self.settings = settings
        self.leaseTTL = leaseTTL
        self.resyncInterval = resyncInterval
        self.statusInterval = statusInterval
        self.statusMinInterval = statusMinInterval
        self.statusPeerLimit = statusPeerLimit
        self.clusterStatusWritesPerSecond = max(1, clusterStatusWritesPerSecond)
        self.backoff = backoff
        self.agentVersion = agentVersion
    }
}

/// The node's key pair. The private key stays in memory (zeroed when dropped); only the public
/// key is ever written to the store.
public struct NodeKeys: Sendable {
    public var privateKey: PrivateKey
    public var publicKey: PublicKey
    public init(privateKey: PrivateKey, publicKey: PublicKey) {
        self.privateKey = privateKey
        self.publicKey = publicKey
    }
}

extension AgentConfiguration {
    /// The least time between two status writes in a mesh of `nodes` nodes: `minimum`, or the
    /// share of ``clusterStatusWritesPerSecond`` that falls to one node when that is longer.
    func statusSpacing(_ minimum: Duration, nodes: Int) -> Duration {
        max(minimum, .milliseconds(nodes * 1000 / clusterStatusWritesPerSecond))
    }
}
