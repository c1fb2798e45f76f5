public import MeshCore

/// Links, addresses, routes and rules held in memory with rtnetlink's idempotence rules, plus
/// failure injection. Routes through a link disappear with the link, as in the kernel.
public actor FakeRouting: Routing {
    public enum Operation: Hashable, Sendable {
        case links, setLink, addAddress, removeAddress, deleteLink, routes, replaceRoute, deleteRoute, rules, addRule, deleteRule
    }

    public private(set) var linkTable: [String: LinkState] = [:]
    public private(set) var routeTable: Set<RouteSpec> = []
    public private(set) var ruleList: [RuleSpec] = []
    public private(set) var calls: [Operation: Int] = [:]
    private var failures: [Operation: [MeshError]] = [:]
    private var nextIndex: Int32 = 2

    public init() {}

    /// Adds a link as an outside party would (the underlay NIC, or a TUN made by wireguard-go).
    public func addLink(_ name: String, mtu: Int = 1500, up: Bool = true, addresses: [InterfaceAddress] = [], kind: String? = nil) {
        linkTable[name] = LinkState(name: name, index: nextIndex, mtu: mtu, isUp: up, addresses: addresses, kind: kind)
        nextIndex += 1
    }

    public func failNext(_ operation: Operation, with error: MeshError) {
        failures[operation, default: []].append(error)
    }

    public func resetCalls() { calls = [:] }

    private func check(_ operation: Operation) throws(MeshError) {
        calls[operation, default: 0] += 1
        if var queue = failures[operation], !queue.isEmpty {
            let error = queue.removeFirst()
            failures[operation] = queue
            throw error
        }
    }

    public func links() async throws -> [LinkState] {
        try check(.links)
        return linkTable.values.sorted { $0.index < $1.index }
    }

    public func link(named name: String) async throws -> LinkState? {
        try check(.links)
        return linkTable[name]
    }

    public func setLink(named name: String, mtu: Int?, up: Bool?) async throws {
        try check(.setLink)
        guard var link = linkTable[name] else { throw MeshError(.notFound, "no link named \(name)") }
        if let mtu { link.mtu = mtu }
        if let up { link.isUp = up }
        linkTable[name] = link
    }

    public func addAddress(_ address: InterfaceAddress, to name: String) async throws {
        try check(.addAddress)
        guard var link = linkTable[name] else { throw MeshError(.notFound, "no link named \(name)") }
        if !link.addresses.contains(address) { link.addresses.append(address) }
        linkTable[name] = link
    }

    public func removeAddress(_ address: InterfaceAddress, from name: String) async throws {
        try check(.removeAddress)
        guard var link = linkTable[name] else { throw MeshError(.notFound, "no link named \(name)") }
        link.addresses.removeAll { $0 == address }
        linkTable[name] = link
    }

    public func deleteLink(named name: String) async throws {
        try check(.deleteLink)
        linkTable[name] = nil
        routeTable = routeTable.filter { $0.target != .device(name) }
    }

    public func routes(table: UInt32, family: IPAddress.Family) async throws -> [RouteSpec] {
        try check(.routes)
        return routeTable.filter { $0.table == table && $0.destination.family == family }.sorted()
    }

    public func replaceRoute(_ route: RouteSpec) async throws {
        try check(.replaceRoute)
        if case .device(let name) = route.target, linkTable[name] == nil {
            throw MeshError(.notFound, "replacing route \(route): no link named \(name)")
        }
        routeTable = routeTable.filter { !($0.table == route.table && $0.destination == route.destination) }
        routeTable.insert(route)
    }

    public func deleteRoute(_ route: RouteSpec) async throws {
        try check(.deleteRoute)
        routeTable.remove(route)
    }

    public func rules(family: IPAddress.Family) async throws -> [RuleSpec] {
        try check(.rules)
        return ruleList.filter { $0.family == family }
    }

    public func addRule(_ rule: RuleSpec) async throws {
        try check(.addRule)
        if !ruleList.contains(rule) { ruleList.append(rule) }
    }

    public func deleteRule(_ rule: RuleSpec) async throws {
        try check(.deleteRule)
        ruleList.removeAll { $0 == rule }
    }
}
