/// The change to send to a device. Optional fields mean "leave unchanged"; peers are applied in
/// order, so a patch may name the same key twice (see ``Plan`` on removing single allowed IPs).
/// This is wg(8)'s set model: the same fields map onto UAPI lines and onto netlink attributes.
public struct DevicePatch: Equatable, Sendable {
    public var privateKey: PrivateKey?
    public var listenPort: UInt16?
    public var fwmark: UInt32?
    /// Remove every peer not named in this patch first. ``plan(desired:observed:options:)``
    /// never sets it: it would drop live sessions. It exists for full `setconf`-style loads.
    public var replacePeers: Bool
    public var peers: [PeerPatch]

    public init(privateKey: PrivateKey? = nil, listenPort: UInt16? = nil, fwmark: UInt32? = nil,
                replacePeers: Bool = false, peers: [PeerPatch] = []) {
        self.privateKey = privateKey
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.replacePeers = replacePeers
        self.peers = peers
    }

    /// True when applying the patch would change nothing.
    public var isEmpty: Bool {
        privateKey == nil && listenPort == nil && fwmark == nil && !replacePeers && peers.isEmpty
    }
}

public struct PeerPatch: Hashable, Sendable {
    public var publicKey: PublicKey
    /// Remove the peer (all other fields are ignored).
    public var remove: Bool
    /// Only change the peer if it exists; never create it.
    public var updateOnly: Bool
    public var endpoint: Endpoint?
    public var persistentKeepalive: UInt16?
    /// Drop the peer's allowed IPs before adding `allowedIPs`.
    public var replaceAllowedIPs: Bool
    /// Prefixes to add (or, with `replaceAllowedIPs`, the complete new list).
    public var allowedIPs: [IPPrefix]

    public init(publicKey: PublicKey, remove: Bool = false, updateOnly: Bool = false, endpoint: Endpoint? = nil,
                persistentKeepalive: UInt16? = nil, replaceAllowedIPs: Bool = false, allowedIPs: [IPPrefix] = []) {
        self.publicKey = publicKey
        self.remove = remove
        self.updateOnly = updateOnly
        self.endpoint = endpoint
        self.persistentKeepalive = persistentKeepalive
        self.replaceAllowedIPs = replaceAllowedIPs
        self.allowedIPs = allowedIPs
    }

    public static func removal(of key: PublicKey) -> PeerPatch { PeerPatch(publicKey: key, remove: true) }
}
