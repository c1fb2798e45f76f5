import MeshCore
import Netlink

/// The ``Routing`` port over rtnetlink, for the host's network namespace or another one.
///
/// One netlink socket, opened at init and owned by this actor: the actor serializes requests
/// (replies are matched by sequence number on the socket). Calls block the actor's thread for
/// the kernel round trip, which for rtnetlink is microseconds.
///
/// Idempotence, as the port requires: adding an address, route or rule that exists succeeds,
/// and so does removing one that does not, or deleting a missing link. `.notFound` is thrown
/// only when an operation needs a link that is missing (`setLink`, `addAddress`,
/// `replaceRoute` to a device). Kernel errors never crash; they become ``MeshError``s that
/// name the operation and carry the errno.
///
/// Table ownership: the agent owns its routing table exclusively. ``routes(table:family:)``
/// reports every device, throw and unreachable route in it, and leaves out kinds the port
/// does not model (gateway, multipath, local, broadcast, …), which the agent never creates.
public actor RtnetlinkRouting: Routing {
    private var socket: NetlinkSocket

    /// Opens an rtnetlink socket in the network namespace at `networkNamespacePath`
    /// (e.g. `/var/run/netns/lab-a`), or in the caller's when nil.
    /// - Throws: `.notFound` for a missing namespace, `.permissionDenied` without
    ///   `CAP_SYS_ADMIN` (entering a namespace) or `CAP_NET_ADMIN`.
    public init(networkNamespacePath: String? = nil) throws(MeshError) {
        do {
            socket = try NetlinkSocket(bus: .route, networkNamespacePath: networkNamespacePath)
        } catch {
            throw meshError(error, while: "opening an rtnetlink socket"
                + (networkNamespacePath.map { " in network namespace \($0)" } ?? ""))
        }
    }

    // MARK: links

    public func links() async throws(MeshError) -> [LinkState] {
        let links = try dumpLinks()
        let addresses = try dumpAddresses()
        return linkStates(links, addresses)
    }

    /// The link named `name` with its addresses, or nil when there is none.
    /// - Throws: `.invalidArgument` for a name the kernel could never accept.
    public func link(named name: String) async throws(MeshError) -> LinkState? {
        guard let link = try lookUpLink(name, while: "looking up link \(name)") else { return nil }
        let addresses = try dumpAddresses().filter { $0.interfaceIndex == UInt32(bitPattern: link.index) }
        return linkStates([link], addresses).first
    }

    /// - Throws: `.notFound` when there is no such link; `.invalidArgument` for an MTU the
    ///   device refuses. Both nil still checks that the link exists.
    public func setLink(named name: String, mtu: Int?, up: Bool?) async throws(MeshError) {
        let operation = "setting link \(name)" + (mtu.map { " mtu \($0)" } ?? "")
            + (up.map { $0 ? " up" : " down" } ?? "")
        try validateInterfaceName(name, operation: operation)
        if let mtu, !(0...Int(UInt32.max)).contains(mtu) {
            throw MeshError(.invalidArgument, "\(operation): MTU out of range")
        }
        try perform(operation) { (socket) throws(NetlinkError) in
            try socket.request(LinkRequest.set(named: name, mtu: mtu.map { UInt32($0) }, up: up))
        }
    }

    /// Adding an address that is already there succeeds. For IPv6 the kernel identifies an
    /// address without its prefix length, so the same address with another length also
    /// counts as "there"; ``links()`` shows the length actually configured.
    /// - Throws: `.notFound` when there is no such link.
    public func addAddress(_ address: InterfaceAddress, to link: String) async throws(MeshError) {
        let operation = "adding address \(address) to link \(link)"
        let index = try requireLinkIndex(link, while: operation)
        let message = try addressMessage(address, interfaceIndex: index, operation: operation)
        try perform(operation, tolerating: [.exists]) { (socket) throws(NetlinkError) in
            try socket.request(AddressRequest.add(message))
        }
    }

    /// Removing an address that is not there, or from a link that does not exist, succeeds.
    public func removeAddress(_ address: InterfaceAddress, from link: String) async throws(MeshError) {
        let operation = "removing address \(address) from link \(link)"
        guard let index = try lookUpLink(link, while: operation)?.index else { return }
        let message = try addressMessage(address, interfaceIndex: index, operation: operation)
        try perform(operation, tolerating: [.addressNotAvailable]) { (socket) throws(NetlinkError) in
            try socket.request(AddressRequest.delete(message))
        }
    }

    /// Deleting a missing link succeeds. Deleting one end of a veth pair deletes both.
    public func deleteLink(named name: String) async throws(MeshError) {
        let operation = "deleting link \(name)"
        try validateInterfaceName(name, operation: operation)
        try perform(operation, tolerating: [.noSuchDevice]) { (socket) throws(NetlinkError) in
            try socket.request(LinkRequest.delete(named: name))
        }
    }

    // MARK: routes

    public func routes(table: UInt32, family: IPAddress.Family) async throws(MeshError) -> [RouteSpec] {
        let messages = try perform("listing routes in table \(table)") { (socket) throws(NetlinkError) in
            try socket.dump(RouteRequest.dump(family: addressFamily(family))).map(RouteMessage.init(parsing:))
        }
        let needsNames = messages.contains { $0.table == table && $0.type == .unicast }
        let names = needsNames ? Dictionary(try dumpLinks().map { (UInt32(bitPattern: $0.index), $0.name) },
                                            uniquingKeysWith: { first, _ in first }) : [:]
        return messages.compactMap { routeSpec($0, table: table, family: family, linkNames: names) }.sorted()
    }

    /// Installs `route`, or switches the route for its destination over to it in place.
    /// - Throws: `.notFound` when the route's device does not exist.
    public func replaceRoute(_ route: RouteSpec) async throws(MeshError) {
        let operation = "adding route \(route)"
        try validateTable(route.table, operation: operation)
        var index: Int32?
        if case .device(let name) = route.target { index = try requireLinkIndex(name, while: operation) }
        let message = routeMessage(route, outputInterface: index)
        try perform(operation) { (socket) throws(NetlinkError) in
            try socket.request(RouteRequest.replace(message))
        }
    }

    /// Deleting a route that is not there (or whose device is gone, which takes its routes
    /// with it) succeeds. The kernel matches destination, table and device; IPv4 also
    /// matches the type, IPv6 does not.
    public func deleteRoute(_ route: RouteSpec) async throws(MeshError) {
        let operation = "deleting route \(route)"
        try validateTable(route.table, operation: operation)
        var index: Int32?
        if case .device(let name) = route.target {
            guard let link = try lookUpLink(name, while: operation) else { return }
            index = link.index
        }
        let message = deleteRouteMessage(route, outputInterface: index)
        // ESRCH: no such route; ENOENT: some kernels' answer for a table that does not exist.
        try perform(operation, tolerating: [.noSuchProcess, .noSuchFileOrDirectory]) { (socket) throws(NetlinkError) in
            try socket.request(RouteRequest.delete(message))
        }
    }

    // MARK: rules

    /// Every `[not] fwmark M/MASK lookup T` rule of `family` (rules with other selectors or
    /// actions are left out; see ``ruleSpec(_:family:)``), in kernel order (by priority).
    public func rules(family: IPAddress.Family) async throws(MeshError) -> [RuleSpec] {
        let messages = try perform("listing \(family == .inet ? "IPv4" : "IPv6") rules") { (socket) throws(NetlinkError) in
            try socket.dump(RuleRequest.dump(family: addressFamily(family))).map(RuleMessage.init(parsing:))
        }
        return messages.compactMap { ruleSpec($0, family: family) }
    }

    /// Adding a rule that exists (same selectors, table and priority) succeeds.
    public func addRule(_ rule: RuleSpec) async throws(MeshError) {
        let operation = "adding rule \(rule)"
        try validateTable(rule.table, operation: operation)
        try perform(operation, tolerating: [.exists]) { (socket) throws(NetlinkError) in
            try socket.request(RuleRequest.add(ruleMessage(rule)))
        }
    }

    /// Deleting a rule that does not exist succeeds.
    public func deleteRule(_ rule: RuleSpec) async throws(MeshError) {
        let operation = "deleting rule \(rule)"
        try perform(operation, tolerating: [.noSuchFileOrDirectory]) { (socket) throws(NetlinkError) in
            try socket.request(RuleRequest.delete(ruleMessage(rule)))
        }
    }

    // MARK: private

    /// Runs `body` on the socket; every error becomes a ``MeshError`` naming `operation`.
    @discardableResult
    private func perform<T>(_ operation: String,
                            _ body: (inout NetlinkSocket) throws(NetlinkError) -> T) throws(MeshError) -> T {
        do {
            return try body(&socket)
        } catch {
            throw meshError(error, while: operation)
        }
    }

    /// As ``perform(_:_:)``, but a kernel answer with an errno in `tolerated` means "already
    /// done" (or "not there") and returns nil instead of throwing.
    @discardableResult
    private func perform<T>(_ operation: String, tolerating tolerated: Set<Errno>,
                            _ body: (inout NetlinkSocket) throws(NetlinkError) -> T) throws(MeshError) -> T? {
        do {
            return try body(&socket)
        } catch where error.code == .kernelRejected && error.errno.map(tolerated.contains) == true {
            return nil
        } catch {
            throw meshError(error, while: operation)
        }
    }

    private func dumpLinks() throws(MeshError) -> [LinkMessage] {
        try perform("listing links") { (socket) throws(NetlinkError) in
            try socket.dump(LinkRequest.dump()).map(LinkMessage.init(parsing:))
        }
    }

    private func dumpAddresses() throws(MeshError) -> [AddressMessage] {
        try perform("listing addresses") { (socket) throws(NetlinkError) in
            try socket.dump(AddressRequest.dump(family: .unspecified)).map(AddressMessage.init(parsing:))
        }
    }

    /// The link by name, through the socket (so in the socket's namespace); nil for `ENODEV`.
    private func lookUpLink(_ name: String, while operation: String) throws(MeshError) -> LinkMessage? {
        try validateInterfaceName(name, operation: operation)
        let replies = try perform(operation, tolerating: [.noSuchDevice]) { (socket) throws(NetlinkError) in
            try socket.request(LinkRequest.get(named: name)).map(LinkMessage.init(parsing:))
        }
        return replies?.first
    }

    private func requireLinkIndex(_ name: String, while operation: String) throws(MeshError) -> Int32 {
        guard let link = try lookUpLink(name, while: operation) else {
            throw MeshError(.notFound, "\(operation): \(Errno.noSuchDevice)", errno: Errno.noSuchDevice.rawValue)
        }
        return link.index
    }

    private func validateTable(_ table: UInt32, operation: String) throws(MeshError) {
        // Table 0 is RT_TABLE_UNSPEC: the kernel would quietly pick the main table.
        guard table != 0 else { throw MeshError(.invalidArgument, "\(operation): table 0 is not a routing table") }
    }
}
