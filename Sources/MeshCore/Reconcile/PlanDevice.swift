/// How ``plan(desired:observed:options:)`` treats what it did not ask for.
public struct PlanOptions: Hashable, Sendable {
    /// Remove peers the device has but the mesh does not list. Off until the agent has read the
    /// whole datastore once: a restarted agent with a partial view must not drop live peers.
    public var removeUnknownPeers: Bool

    public init(removeUnknownPeers: Bool) {
        self.removeUnknownPeers = removeUnknownPeers
    }
}

/// A public key no node may use. Removing one allowed IP from a peer without touching its other
/// allowed IPs is done by handing the prefix to this placeholder peer (WireGuard moves a prefix
/// to the last peer that claims it) and then removing the placeholder: Cilium's dummy-peer
/// technique. It works on every kernel and every wireguard-go, unlike per-prefix removal flags,
/// and unlike REPLACE_ALLOWEDIPS it never leaves the peer's remaining prefixes unrouted.
public let placeholderPeerKey: PublicKey = {
    // "meshguard placeholder peer……" padded: recognisable in `wg show` while it exists.
    var bytes = Array("meshguard-placeholder-peer-key!!".utf8)
    bytes = Array(bytes.prefix(32))
    return try! PublicKey(bytes: bytes)
}()

/// Returns the smallest patch that turns `observed` into `desired`.
///
/// - Peers are compared by public key. A peer that only gains allowed IPs gets an update-only
///   patch with the new prefixes; one that loses prefixes has them moved to
///   ``placeholderPeerKey`` which is then removed (unless another peer takes them over in the
///   same patch); nothing is ever replaced wholesale.
/// - Unknown peers are removed only with ``PlanOptions/removeUnknownPeers``.
/// - The result is deterministic: placeholder moves first, then removals, then other changes,
///   each sorted by public key. Identical desired and observed state gives an empty patch.
public func plan(desired: DeviceConfig, observed: DeviceState, options: PlanOptions) -> DevicePatch {
    var patch = DevicePatch()
    if observed.privateKey != desired.privateKey { patch.privateKey = desired.privateKey }
    if observed.listenPort != desired.listenPort { patch.listenPort = desired.listenPort }
    if observed.fwmark != desired.fwmark { patch.fwmark = desired.fwmark }

    let observedByKey = Dictionary(observed.peers.map { ($0.publicKey, $0) }, uniquingKeysWith: { a, _ in a })
    let desiredKeys = Set(desired.peers.map(\.publicKey))
    // Built only when some peer lost a prefix: the common pass changes nothing and needs none.
    var claimed: Set<IPPrefix>?
    func claimedByDesired() -> Set<IPPrefix> {
        if let claimed { return claimed }
        let all = Set(desired.peers.flatMap(\.allowedIPs))
        claimed = all
        return all
    }

    var removals: [PeerPatch] = []
    var changes: [PeerPatch] = []
    var orphaned: Set<IPPrefix> = []

    for peer in desired.peers {
        guard let current = observedByKey[peer.publicKey] else {
            changes.append(PeerPatch(publicKey: peer.publicKey, endpoint: peer.endpoint,
                                     persistentKeepalive: peer.persistentKeepalive, allowedIPs: peer.allowedIPs))
            continue
        }
        var change = PeerPatch(publicKey: peer.publicKey, updateOnly: true)
        if let endpoint = peer.endpoint, current.endpoint != endpoint { change.endpoint = endpoint }
        if current.persistentKeepalive != peer.persistentKeepalive { change.persistentKeepalive = peer.persistentKeepalive }
        // Desired lists are sorted; backends report them sorted too, so equal lists are the
        // common case and need no sets.
        if current.allowedIPs != peer.allowedIPs {
            let have = Set(current.allowedIPs)
            let want = Set(peer.allowedIPs)
            change.allowedIPs = want.subtracting(have).sorted()
            // A prefix another desired peer takes over moves with that peer's add; no removal needed.
            let lost = have.subtracting(want)
            if !lost.isEmpty { orphaned.formUnion(lost.subtracting(claimedByDesired())) }
        }
        if change.endpoint != nil || change.persistentKeepalive != nil || !change.allowedIPs.isEmpty {
            changes.append(change)
        }
    }

    for peer in observed.peers where !desiredKeys.contains(peer.publicKey) {
        if options.removeUnknownPeers || peer.publicKey == placeholderPeerKey {
            removals.append(.removal(of: peer.publicKey))
        }
    }

    var patches: [PeerPatch] = []
    if !orphaned.isEmpty {
        patches.append(PeerPatch(publicKey: placeholderPeerKey, allowedIPs: orphaned.sorted()))
        patches.append(.removal(of: placeholderPeerKey))
        removals.removeAll { $0.publicKey == placeholderPeerKey }
    }
    patches += removals.sorted { $0.publicKey < $1.publicKey }
    patches += changes.sorted { $0.publicKey < $1.publicKey }
    patch.peers = patches
    return patch
}
