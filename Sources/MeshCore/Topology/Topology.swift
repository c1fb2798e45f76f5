/// The data plane one node should have, computed from the mesh by ``desiredDataplane``.
public struct DesiredDataplane: Equatable, Sendable {
    public var device: DeviceConfig
    public var routing: RoutingConfig
    /// Which node each programmed public key belongs to (for status and metrics).
    public var nodesByKey: [PublicKey: NodeName]
    /// Accepted records this node could not use (should not happen with a healthy controller),
    /// each with the reason. Reported in status, never fatal.
    public var problems: [String]
    /// The nodes those problems are about: accepted peers not programmed in full.
    public var incomplete: Set<NodeName>
    /// The public key programmed for each node: the other way round from `nodesByKey`, so that
    /// ``updateDataplane(_:settings:view:changed:cache:)`` finds a changed node's old peer.
    public var keysByNode: [NodeName: PublicKey]
    /// Whether a change to a few peer records can be worked out from this result alone: no
    /// problems (nothing skipped, so every peer is independent of the others) and no rejected
    /// verdicts (whose fallback routes depend on which CIDRs all the peers route).
    public var updatable: Bool
}

/// Computes the device, routes and rules for `settings.node`, or nil when encryption is off.
///
/// Table T holds: each accepted peer's pod CIDRs → the device; the node's own pod CIDRs →
/// throw (same-node traffic stays as it is); pod CIDRs of nodes without an accepted key and the
/// rest of the pools → throw, or unreachable in strict mode. A longer prefix wins, so an
/// accepted peer's route beats its pool's unreachable route. AllowedIPs of each peer are
/// exactly the CIDRs routed to it.
public func desiredDataplane(settings: NodeSettings, view: MeshView, privateKey: PrivateKey, underlayMTU: Int) -> DesiredDataplane? {
    var cache = PeerParseCache()
    return desiredDataplane(settings: settings, view: view, privateKey: privateKey, underlayMTU: underlayMTU, cache: &cache)
}

/// Accepted peer records as parsed by ``desiredDataplane(settings:view:privateKey:underlayMTU:cache:)``,
/// kept between calls. A record equal to the one parsed last time is not parsed again:
/// comparing its strings costs much less than decoding a key and parsing an endpoint and
/// prefixes, and between two passes of a large mesh nearly every record is the same.
public struct PeerParseCache: Sendable {
    /// A class, so that handing one out per peer and pass is one retain, not a copy of every
    /// string in it.
    final class Parsed: Sendable {
        let record: PeerRecord
        /// The key and endpoint, or why the record is unusable.
        let peer: Result<(key: PublicKey, endpoint: Endpoint), MeshError>
        let cidrs: [IPPrefix]
        let badCIDRs: [String]
        init(record: PeerRecord, peer: Result<(key: PublicKey, endpoint: Endpoint), MeshError>, cidrs: [IPPrefix], badCIDRs: [String]) {
            self.record = record
            self.peer = peer
            self.cidrs = cidrs
            self.badCIDRs = badCIDRs
        }
    }
    var entries: [NodeName: Parsed] = [:]

    public init() {}

    mutating func parse(_ node: NodeName, _ record: PeerRecord) -> Parsed {
        if let cached = entries[node], cached.record == record { return cached }
        let peer: Result<(key: PublicKey, endpoint: Endpoint), MeshError>
        do throws(MeshError) {
            peer = .success((try PublicKey(base64: record.publicKey), try Endpoint(record.endpoint)))
        } catch {
            peer = .failure(error)
        }
        var cidrs: [IPPrefix] = []
        var bad: [String] = []
        for text in record.allowedIPs {
            if let cidr = try? IPPrefix(text) { cidrs.append(cidr) } else { bad.append(text) }
        }
        let parsed = Parsed(record: record, peer: peer, cidrs: cidrs, badCIDRs: bad)
        entries[node] = parsed
        return parsed
    }

    /// Forgets nodes no longer in `view`.
    mutating func keep(only nodes: Dictionary<NodeName, PeerRecord>.Keys) {
        if entries.count > nodes.count { entries = entries.filter { nodes.contains($0.key) } }
    }
}

/// ``desiredDataplane(settings:view:privateKey:underlayMTU:)`` with parsed records kept in
/// `cache` from one call to the next (the agent keeps one per node).
public func desiredDataplane(settings: NodeSettings, view: MeshView, privateKey: PrivateKey, underlayMTU: Int,
                             cache: inout PeerParseCache) -> DesiredDataplane? {
    guard let config = view.config, config.enabled else { return nil }
    let table = settings.table
    let fallback: RouteSpec.Target = config.strict ? .unreachable : .throw
    var problems: [String] = []
    var incomplete: Set<NodeName> = []
    func problem(_ node: NodeName, _ text: String) {
        problems.append("peer \(node): \(text)")
        incomplete.insert(node)
    }

    // Parse every accepted record; the node's own CIDRs and malformed values are skipped.
    struct Candidate { var node: NodeName; var key: PublicKey; var endpoint: Endpoint; var cidrs: Range<Int> }
    var candidates: [Candidate] = []
    var cidrItems: [(prefix: IPPrefix, owner: NodeName)] = []
    var nodesByKey: [PublicKey: NodeName] = [:]
    var keysByNode: [NodeName: PublicKey] = [:]
    let own = Set(settings.podCIDRs)

    cache.keep(only: view.peers.keys)
    // By name, for a deterministic "first node keeps it" on conflicts. The names are sorted,
    // not the (name, record) pairs: copying a thousand records to sort them showed in the
    // thousand-node profile.
    for node in view.peers.keys.sorted() where node != settings.node {
        guard let record = view.peers[node] else { continue }
        let parsed = cache.parse(node, record)
        let key: PublicKey
        let endpoint: Endpoint
        switch parsed.peer {
        case .success(let peer): (key, endpoint) = peer
        case .failure(let error):
            problem(node, error.message)
            continue
        }
        if let other = nodesByKey[key] {
            problem(node, "public key also used by \(other); skipped")
            continue
        }
        nodesByKey[key] = node
        keysByNode[node] = key
        let first = cidrItems.count
        for text in parsed.badCIDRs {
            problem(node, "'\(text)' is not a CIDR; skipped")
        }
        for cidr in parsed.cidrs {
            if own.contains(where: { $0.overlaps(cidr) }) {
                problem(node, "\(cidr) overlaps this node's pod CIDRs; skipped")
            } else {
                cidrItems.append((cidr, node))
            }
        }
        candidates.append(Candidate(node: node, key: key, endpoint: endpoint, cidrs: first..<cidrItems.count))
    }
    // A healthy controller never accepts overlapping CIDRs; if records do overlap anyway, the
    // first node by name keeps the prefix and the rest is reported.
    let conflicts = PrefixIndex.conflicts(in: cidrItems)
    for (i, hit) in conflicts.sorted(by: { $0.key < $1.key }) {
        problem(cidrItems[i].owner, "\(cidrItems[i].prefix) overlaps a CIDR of \(hit.owner); skipped")
    }
    let keepalive = UInt16(clamping: max(0, config.persistentKeepalive))
    var routed: [IPPrefix] = []
    let peers = candidates.map { candidate in
        let cidrs = candidate.cidrs.filter { conflicts[$0] == nil }.map { cidrItems[$0].prefix }
        routed += cidrs
        return PeerConfig(publicKey: candidate.key, endpoint: candidate.endpoint, allowedIPs: cidrs, persistentKeepalive: keepalive)
    }
    var routes: [IPPrefix: RouteSpec.Target] = [:]
    for cidr in routed { routes[cidr] = .device(settings.interface) }
    for cidr in settings.podCIDRs where routes[cidr] == nil { routes[cidr] = .throw }
    // Built only if some node without an accepted key has CIDRs to fall back for.
    var routedIndex: PrefixIndex<Bool>?
    var rejected = false
    for verdict in view.verdicts.values where verdict.state == .rejected && verdict.node != settings.node.rawValue {
        rejected = true
        guard let node = try? NodeName(verdict.node), view.peers[node] == nil else { continue }
        for cidr in verdict.ownedCIDRs.compactMap({ try? IPPrefix($0) }) where routes[cidr] == nil {
            if routedIndex == nil { routedIndex = PrefixIndex(disjoint: routed, owner: true) }
            if routedIndex?.firstOverlap(with: cidr) == nil && !own.contains(where: { $0.overlaps(cidr) }) {
                routes[cidr] = fallback
            }
        }
    }
    for pool in view.pools where routes[pool] == nil { routes[pool] = fallback }

    let routeSpecs = routes.map { RouteSpec(destination: $0.key, table: table, target: $0.value) }
    let rules = settings.rules(routing: routeSpecs)

    let overhead = settings.address.family == .inet ? NodeSettings.ipv4Overhead : NodeSettings.ipv6Overhead
    let mtu = settings.mtu ?? config.mtu ?? (underlayMTU - overhead)
    let addresses = settings.tunnelAddress.map { [InterfaceAddress(address: $0, prefixLength: $0.bitWidth)] } ?? []

    let device = DeviceConfig(privateKey: privateKey, listenPort: settings.listenPort, fwmark: settings.fwmark, peers: peers)
    let routing = RoutingConfig(interface: settings.interface, mtu: mtu, addresses: addresses, table: table,
                                routes: routeSpecs, rules: rules)
    return DesiredDataplane(device: device, routing: routing, nodesByKey: nodesByKey, problems: problems,
                            incomplete: incomplete, keysByNode: keysByNode, updatable: problems.isEmpty && !rejected)
}

extension NodeSettings {
    /// One `not fwmark M/M lookup T` rule for each address family that has routes in table T.
    func rules(routing routes: [RouteSpec]) -> [RuleSpec] {
        let families = Set(routes.map(\.destination.family))
        return [IPAddress.Family.inet, .inet6].filter(families.contains).map {
            RuleSpec(family: $0, priority: rulePriority, fwmark: fwmark, fwmask: fwmark, table: table, invert: true)
        }
    }
}
