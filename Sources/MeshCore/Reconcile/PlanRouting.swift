/// The routes, rule and link settings a node's data plane should have. Computed by ``Topology``.
public struct RoutingConfig: Equatable, Sendable {
    public var interface: String
    public var mtu: Int
    public var addresses: [InterfaceAddress]
    public var table: UInt32
    /// Sorted by destination; at most one route per destination.
    public var routes: [RouteSpec]
    /// One `not fwmark M/M lookup T` rule per address family that has routes.
    public var rules: [RuleSpec]

    public init(interface: String, mtu: Int, addresses: [InterfaceAddress], table: UInt32, routes: [RouteSpec], rules: [RuleSpec]) {
        self.interface = interface
        self.mtu = mtu
        self.addresses = addresses
        self.table = table
        self.routes = routes.sorted()
        self.rules = rules
    }
}

public struct RoutePatch: Equatable, Sendable {
    /// Routes to add or to switch over in place (replace is atomic: no gap for the prefix).
    public var replace: [RouteSpec] = []
    public var delete: [RouteSpec] = []
    public init(replace: [RouteSpec] = [], delete: [RouteSpec] = []) {
        self.replace = replace
        self.delete = delete
    }
    public var isEmpty: Bool { replace.isEmpty && delete.isEmpty }
}

/// Diff of table `table`: the agent owns it exclusively, so anything in it that is not desired
/// goes. A prefix whose target changes is replaced, never deleted and re-added.
public func planRoutes(desired: [RouteSpec], observed: [RouteSpec]) -> RoutePatch {
    let observedSet = Set(observed)
    let desiredDestinations = Set(desired.map(\.destination))
    var patch = RoutePatch()
    patch.replace = desired.filter { !observedSet.contains($0) }.sorted()
    patch.delete = observed.filter { !desiredDestinations.contains($0.destination) }.sorted()
    return patch
}

public struct RulePatch: Equatable, Sendable {
    public var add: [RuleSpec] = []
    public var delete: [RuleSpec] = []
    public init(add: [RuleSpec] = [], delete: [RuleSpec] = []) {
        self.add = add
        self.delete = delete
    }
    public var isEmpty: Bool { add.isEmpty && delete.isEmpty }
}

/// Keeps exactly the desired rules among those that look up `table`: stale rules into that
/// table (another priority or mark, left by an older configuration) are removed. Rules into
/// other tables are not ours and are never touched. `observed` may mix both families.
public func planRules(desired: [RuleSpec], table: UInt32, observed: [RuleSpec]) -> RulePatch {
    let ours = observed.filter { $0.table == table }
    var patch = RulePatch()
    patch.add = desired.filter { !ours.contains($0) }
    patch.delete = ours.filter { !desired.contains($0) }
    return patch
}

public struct LinkPatch: Equatable, Sendable {
    public var mtu: Int?
    public var up: Bool?
    public var addAddresses: [InterfaceAddress] = []
    public var removeAddresses: [InterfaceAddress] = []
    public init(mtu: Int? = nil, up: Bool? = nil, addAddresses: [InterfaceAddress] = [], removeAddresses: [InterfaceAddress] = []) {
        self.mtu = mtu
        self.up = up
        self.addAddresses = addAddresses
        self.removeAddresses = removeAddresses
    }
    public var isEmpty: Bool { mtu == nil && up == nil && addAddresses.isEmpty && removeAddresses.isEmpty }
}

/// The device link should be up, with the configured MTU and exactly the configured addresses.
/// IPv6 link-local addresses the kernel adds by itself are left alone.
public func planLink(mtu: Int, addresses: [InterfaceAddress], observed: LinkState) -> LinkPatch {
    var patch = LinkPatch()
    if observed.mtu != mtu { patch.mtu = mtu }
    if !observed.isUp { patch.up = true }
    let have = Set(observed.addresses.filter { !isLinkLocal($0.address) })
    let want = Set(addresses)
    patch.addAddresses = want.subtracting(have).sorted { $0.description < $1.description }
    patch.removeAddresses = have.subtracting(want).sorted { $0.description < $1.description }
    return patch
}

private func isLinkLocal(_ address: IPAddress) -> Bool {
    if case .v6(let v) = address { return v >> 118 == 0x3FA }  // fe80::/10
    return false
}
