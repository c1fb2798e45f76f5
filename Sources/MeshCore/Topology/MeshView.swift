/// Everything an agent reads from the store that decides its data plane.
public struct MeshView: Sendable, Equatable {
    /// nil until `meshguard enable` (or `disable`) has been run once: treated as disabled.
    public var config: ClusterConfig?
    public var pools: [IPPrefix]
    public var peers: [NodeName: PeerRecord]
    public var verdicts: [NodeName: VerdictRecord]

    public init(config: ClusterConfig? = nil, pools: [IPPrefix] = [], peers: [NodeName: PeerRecord] = [:],
                verdicts: [NodeName: VerdictRecord] = [:]) {
        self.config = config
        self.pools = pools
        self.peers = peers
        self.verdicts = verdicts
    }
}
