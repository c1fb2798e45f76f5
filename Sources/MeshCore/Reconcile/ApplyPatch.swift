extension DeviceState {
    /// The state a device reports after it accepted `patch`, with WireGuard's semantics: fields
    /// set by the patch replace the old ones; `replacePeers` drops every peer first; peer
    /// patches apply in order; an `updateOnly` patch for an absent peer does nothing; and an
    /// allowed IP belongs to one peer, so adding it to one takes it from any other (which is
    /// what the placeholder-peer removal in ``plan(desired:observed:options:)`` relies on).
    ///
    /// Given a state ordered as backends report devices (peers by public key, each peer's
    /// allowed IPs sorted), the result is ordered the same way. A new peer has no handshake and zero counters; the others keep
    /// theirs. Nothing here is an error: a patch a device would refuse (malformed keys) cannot
    /// be built from these types.
    ///
    /// The agent uses it to know its device between read-backs: a successful apply followed by
    /// this function gives what a read would, without the read.
    public func applying(_ patch: DevicePatch) -> DeviceState {
        var next = self
        if let key = patch.privateKey { next.privateKey = key }
        if let port = patch.listenPort { next.listenPort = port }
        if let mark = patch.fwmark { next.fwmark = mark }
        guard patch.replacePeers || !patch.peers.isEmpty else { return next }
        // A change of a few peers on an ordered state (every pass of a settled mesh): patched
        // in place. Rebuilding every peer through a dictionary and sorting them again was a
        // sixth of each node's work per change in a thousand-node mesh.
        if !patch.replacePeers && patch.peers.count <= Self.inPlaceLimit && peers.isOrderedAsReported {
            next.peers.applyInPlace(patch.peers)
            return next
        }
        next.peers = peers.applyByKey(patch)
        return next
    }

    /// The most peer changes patched in place; each may scan every peer once.
    static let inPlaceLimit = 8
}

extension [PeerState] {
    /// Peers by public key, each peer's allowed IPs sorted: the order backends report.
    var isOrderedAsReported: Bool {
        for i in indices {
            if i > startIndex && !(self[i - 1].publicKey < self[i].publicKey) { return false }
            let ips = self[i].allowedIPs
            if ips.count > 1 && zip(ips, ips.dropFirst()).contains(where: { !($0 < $1) }) { return false }
        }
        return true
    }

    /// ``DeviceState/applying(_:)`` for a few changes on an ordered list, keeping the order:
    /// each peer found by binary search, a prefix taken from its old holder by one scan.
    mutating func applyInPlace(_ changes: [PeerPatch]) {
        for change in changes {
            let (index, found) = sortedPosition(of: change.publicKey, by: \.publicKey)
            if change.remove {
                if found { remove(at: index) }
                continue
            }
            if !found && change.updateOnly { continue }
            var peer = found ? self[index] : PeerState(publicKey: change.publicKey, endpoint: nil, allowedIPs: [])
            if let endpoint = change.endpoint { peer.endpoint = endpoint }
            if let keepalive = change.persistentKeepalive { peer.persistentKeepalive = keepalive }
            if change.replaceAllowedIPs { peer.allowedIPs = [] }
            for prefix in change.allowedIPs where !peer.allowedIPs.contains(prefix) {
                // An allowed IP belongs to one peer: adding it here takes it from the other.
                for other in self.indices where other != index || !found {
                    if let at = self[other].allowedIPs.firstIndex(of: prefix) {
                        self[other].allowedIPs.remove(at: at)
                        break
                    }
                }
                peer.allowedIPs.append(prefix)
            }
            if peer.allowedIPs.count > 1 { peer.allowedIPs.sort() }
            if found { self[index] = peer } else { insert(peer, at: index) }
        }
    }

    /// ``DeviceState/applying(_:)`` for any patch on any list: keyed storage while patching,
    /// so that a full load of thousands of peers is not quadratic; the result is ordered.
    func applyByKey(_ patch: DevicePatch) -> [PeerState] {

        var peers: [PublicKey: PeerState] = patch.replacePeers ? [:]
            : Dictionary(map { ($0.publicKey, $0) }, uniquingKeysWith: { a, _ in a })
        // Which peer holds each prefix; built on the first patch that adds one.
        var owners: [IPPrefix: PublicKey]?

        for change in patch.peers {
            if change.remove {
                if let gone = peers.removeValue(forKey: change.publicKey), owners != nil {
                    for prefix in gone.allowedIPs where owners?[prefix] == change.publicKey { owners?[prefix] = nil }
                }
                continue
            }
            if peers[change.publicKey] == nil && change.updateOnly { continue }
            var peer = peers[change.publicKey] ?? PeerState(publicKey: change.publicKey, endpoint: nil, allowedIPs: [])
            if let endpoint = change.endpoint { peer.endpoint = endpoint }
            if let keepalive = change.persistentKeepalive { peer.persistentKeepalive = keepalive }
            if change.replaceAllowedIPs {
                for prefix in peer.allowedIPs where owners?[prefix] == peer.publicKey { owners?[prefix] = nil }
                peer.allowedIPs = []
            }
            if !change.allowedIPs.isEmpty {
                // The map is built from the stored peers: store this one first, so that a
                // prefix it just dropped (replace) is not taken for one it still holds.
                peers[change.publicKey] = peer
                if owners == nil {
                    var built: [IPPrefix: PublicKey] = [:]
                    for (key, other) in peers { for prefix in other.allowedIPs { built[prefix] = key } }
                    owners = built
                }
                for prefix in change.allowedIPs {
                    let previous = owners?[prefix]
                    if previous == peer.publicKey { continue }
                    if let previous { peers[previous]?.allowedIPs.removeAll { $0 == prefix } }
                    owners?[prefix] = peer.publicKey
                    peer.allowedIPs.append(prefix)
                }
            }
            peers[change.publicKey] = peer
        }
        return peers.values.map { peer in
            var peer = peer
            if peer.allowedIPs.count > 1 { peer.allowedIPs.sort() }
            return peer
        }.sorted { $0.publicKey < $1.publicKey }
    }
}
