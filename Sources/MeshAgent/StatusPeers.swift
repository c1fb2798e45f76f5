import MeshCore

/// The peer list of a node's status, built from a device state. An entry is rebuilt only when
/// its peer's state or node name changed since the last status: between two statuses of a
/// large mesh nearly every peer is the same, and making the strings of every entry again
/// (fingerprint, endpoint, prefixes) was a visible share of each node's work per change.
struct StatusPeers {
    private var cache: [PublicKey: (state: PeerState, node: String, entry: NodeStatusRecord.Peer)] = [:]

    /// The entries for `device`'s peers (the placeholder left out), in the device's order; a
    /// key `names` does not know is reported as node "unknown".
    mutating func entries(for device: DeviceState, names: [PublicKey: NodeName]) -> [NodeStatusRecord.Peer] {
        var entries: [NodeStatusRecord.Peer] = []
        entries.reserveCapacity(device.peers.count)
        // Updated in place: building a new map of every peer for each status hashed every
        // key again.
        for peer in device.peers where peer.publicKey != placeholderPeerKey {
            let node = names[peer.publicKey]?.rawValue ?? "unknown"
            if let cached = cache[peer.publicKey], cached.node == node, cached.state == peer {
                entries.append(cached.entry)
                continue
            }
            let entry = NodeStatusRecord.Peer(node: node, publicKeyFingerprint: peer.publicKey.fingerprint,
                                              endpoint: peer.endpoint?.description, allowedIPs: peer.allowedIPs.map(\.description),
                                              lastHandshake: peer.lastHandshake, rxBytes: peer.rxBytes, txBytes: peer.txBytes)
            cache[peer.publicKey] = (peer, node, entry)
            entries.append(entry)
        }
        // Peers gone from the device: only then is the map rebuilt.
        if cache.count > entries.count {
            let present = Set(device.peers.map(\.publicKey))
            cache = cache.filter { present.contains($0.key) }
        }
        return entries
    }
}
