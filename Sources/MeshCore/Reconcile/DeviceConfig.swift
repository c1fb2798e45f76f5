/// What a node's WireGuard device should be: computed from the mesh by ``Topology``.
public struct DeviceConfig: Equatable, Sendable {
    public var privateKey: PrivateKey
    public var listenPort: UInt16
    /// Mark on the encrypted UDP the device sends, so the policy rule lets it bypass the tunnel.
    public var fwmark: UInt32
    /// Sorted by public key; no two peers share a key or an allowed IP.
    public var peers: [PeerConfig]

    public init(privateKey: PrivateKey, listenPort: UInt16, fwmark: UInt32, peers: [PeerConfig]) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.peers = peers.sorted { $0.publicKey < $1.publicKey }
    }
}

public struct PeerConfig: Hashable, Sendable {
    public var publicKey: PublicKey
    public var endpoint: Endpoint?
    /// Exactly the prefixes routed to this peer; sorted, no duplicates.
    public var allowedIPs: [IPPrefix]
    /// Seconds; 0 turns persistent keepalive off.
    public var persistentKeepalive: UInt16

    public init(publicKey: PublicKey, endpoint: Endpoint?, allowedIPs: [IPPrefix], persistentKeepalive: UInt16 = 0) {
        self.publicKey = publicKey
        self.endpoint = endpoint
        self.allowedIPs = Array(Set(allowedIPs)).sorted()
        self.persistentKeepalive = persistentKeepalive
    }
}
