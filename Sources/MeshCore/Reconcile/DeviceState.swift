/// What a WireGuard device reports when read back (kernel dump or UAPI `get=1`).
/// Zero values mean "none", as in wgctrl-go's `Device`.
public struct DeviceState: Equatable, Sendable {
    public var name: String
    /// nil when the device has no private key yet.
    public var privateKey: PrivateKey?
    public var listenPort: UInt16
    public var fwmark: UInt32
    public var peers: [PeerState]

    public init(name: String, privateKey: PrivateKey?, listenPort: UInt16, fwmark: UInt32, peers: [PeerState]) {
        self.name = name
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.peers = peers
    }
}

public struct PeerState: Hashable, Sendable {
    public var publicKey: PublicKey
    public var endpoint: Endpoint?
    public var allowedIPs: [IPPrefix]
    public var persistentKeepalive: UInt16
    /// Time of the last completed handshake, nil if none yet.
    public var lastHandshake: Timestamp?
    public var rxBytes: UInt64
    public var txBytes: UInt64

    public init(publicKey: PublicKey, endpoint: Endpoint?, allowedIPs: [IPPrefix], persistentKeepalive: UInt16 = 0,
                lastHandshake: Timestamp? = nil, rxBytes: UInt64 = 0, txBytes: UInt64 = 0) {
        self.publicKey = publicKey
        self.endpoint = endpoint
        self.allowedIPs = allowedIPs
        self.persistentKeepalive = persistentKeepalive
        self.lastHandshake = lastHandshake
        self.rxBytes = rxBytes
        self.txBytes = txBytes
    }
}
