/// A desired data plane brought up to date after a few peer records changed, with the peers and
/// routes that may differ: a pass plans and applies only those.
public struct DataplaneUpdate: Equatable, Sendable {
    /// What ``desiredDataplane(settings:view:privateKey:underlayMTU:cache:)`` gives for the new view.
    public var desired: DesiredDataplane
    /// The changed nodes' peers as they were programmed, and as they are to be now.
    public var peersBefore: [PeerConfig]
    public var peersAfter: [PeerConfig]
    /// The destinations whose routes may differ, and their routes now (a destination without
    /// one now has none in `routesAfter`).
    public var destinations: Set<IPPrefix>
    public var routesAfter: [RouteSpec]

    /// ``plan(desired:observed:options:)`` over the changed peers only. `observed` is the device
    /// as it stands, brought to `previous` (the result this update started from) by an earlier
    /// pass; its other peers are not looked at.
    public func devicePatch(observed: DeviceState) -> DevicePatch {
        let keys = Set(peersBefore.map(\.publicKey) + peersAfter.map(\.publicKey))
        var touched = observed
        touched.peers = observed.peers.filter { keys.contains($0.publicKey) }
        let device = desired.device
        let want = DeviceConfig(privateKey: device.privateKey, listenPort: device.listenPort, fwmark: device.fwmark, peers: peersAfter)
        return plan(desired: want, observed: touched, options: PlanOptions(removeUnknownPeers: true))
    }

    /// ``planRoutes(desired:observed:)`` over `destinations` of `family` only; `observed` is
    /// that family's routes in the table, of which only those to `destinations` are looked at.
    public func routePatch(family: IPAddress.Family, observed: [RouteSpec]) -> RoutePatch {
        planRoutes(desired: routesAfter.filter { $0.destination.family == family },
                   observed: observed.filter { destinations.contains($0.destination) })
    }
}

/// The most changed nodes worked out one by one; more (a mesh forming, a re-list) take the
/// full computation, which sorts once instead of searching per node.
public let updateDataplaneLimit = 64

/// ``desiredDataplane(settings:view:privateKey:underlayMTU:cache:)`` for `view`, worked out from
/// `previous` (its result for an earlier view) when `view` differs from that view only in the
/// peer records of `changed`. Its cost follows the change, not the mesh: in a thousand-node
/// mesh the full computation was most of every node's work for each new key.
///
/// Returns nil, and the caller computes in full, whenever the change is not local:
/// `previous` is not ``DesiredDataplane/updatable``; encryption is off; more than
/// ``updateDataplaneLimit`` nodes changed; or a changed record would be skipped or cut short (a
/// malformed key, endpoint or CIDR, a key or CIDR another peer has, a CIDR overlapping this
/// node's). Then the full computation's rules for who keeps what apply. None of this is an
/// error. The caller must not pass a view whose config, pools or verdicts differ from the
/// earlier view's.
public func updateDataplane(_ previous: DesiredDataplane, settings: NodeSettings, view: MeshView, changed: Set<NodeName>,
                            cache: inout PeerParseCache) -> DataplaneUpdate? {
    guard previous.updatable, let config = view.config, config.enabled, changed.count <= updateDataplaneLimit else { return nil }
    var desired = previous
    // By name, as the full computation goes, so that the result is the same whatever the order.
    let nodes = changed.filter { $0 != settings.node }.sorted()

    // Take every changed node's peer out first: a key or a CIDR may move between two of them.
    var before: [PeerConfig] = []
    for node in nodes {
        guard let key = desired.keysByNode.removeValue(forKey: node) else { continue }
        desired.nodesByKey[key] = nil
        let at = desired.device.peers.sortedPosition(of: key, by: \.publicKey)
        if at.found { before.append(desired.device.peers.remove(at: at.index)) }
    }

    var after: [PeerConfig] = []
    let keepalive = UInt16(clamping: max(0, config.persistentKeepalive))
    for node in nodes {
        guard let record = view.peers[node] else {
            cache.entries[node] = nil
            continue
        }
        let parsed = cache.parse(node, record)
        guard case .success(let (key, endpoint)) = parsed.peer, parsed.badCIDRs.isEmpty, desired.nodesByKey[key] == nil else { return nil }
        for (i, cidr) in parsed.cidrs.enumerated() {
            let clash = settings.podCIDRs.contains { $0.overlaps(cidr) }
                || parsed.cidrs[..<i].contains { $0.overlaps(cidr) }
                || desired.device.peers.contains { $0.allowedIPs.contains { $0.overlaps(cidr) } }
            if clash { return nil }
        }
        let peer = PeerConfig(publicKey: key, endpoint: endpoint, allowedIPs: parsed.cidrs, persistentKeepalive: keepalive)
        desired.device.peers.insert(peer, at: desired.device.peers.sortedPosition(of: key, by: \.publicKey).index)
        desired.nodesByKey[key] = node
        desired.keysByNode[node] = key
        after.append(peer)
    }

    // Routes of the CIDRs that came or went. With no rejected verdicts (``DesiredDataplane/updatable``),
    // a CIDR no peer routes falls back only as a pool of its own; this node's CIDRs overlap no peer's.
    let routed = Set(after.flatMap(\.allowedIPs))
    let destinations = routed.union(before.flatMap(\.allowedIPs))
    let fallback: RouteSpec.Target = config.strict ? .unreachable : .throw
    var routesAfter: [RouteSpec] = []
    for destination in destinations.sorted() {
        let target: RouteSpec.Target? =
            routed.contains(destination) ? .device(settings.interface) : view.pools.contains(destination) ? fallback : nil
        let at = desired.routing.routes.sortedPosition(of: destination, by: \.destination)
        if let target {
            let route = RouteSpec(destination: destination, table: settings.table, target: target)
            routesAfter.append(route)
            if at.found { desired.routing.routes[at.index] = route } else { desired.routing.routes.insert(route, at: at.index) }
        } else if at.found {
            desired.routing.routes.remove(at: at.index)
        }
    }
    desired.routing.rules = settings.rules(routing: desired.routing.routes)
    return DataplaneUpdate(desired: desired, peersBefore: before, peersAfter: after, destinations: destinations, routesAfter: routesAfter)
}
