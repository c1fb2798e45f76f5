public import MeshCore

public struct ControllerConfiguration: Sendable {
    /// Who this instance is, in the leader record and logs (e.g. "host:pid").
    public var identity: String
    /// The pod CIDR pools every claim must fall inside; published to the store for agents.
    public var pools: [IPPrefix]
    /// TTL of the leadership lease. A standby takes over at most this long after the active
    /// controller dies (plus the store's expiry latency).
    public var leaseTTL: Int64
    public var backoff: Backoff

    public init(identity: String, pools: [IPPrefix], leaseTTL: Int64 = 10, backoff: Backoff = Backoff(maximum: .seconds(2))) {
        self.identity = identity
        self.pools = pools
        self.leaseTTL = leaseTTL
        self.backoff = backoff
    }
}
