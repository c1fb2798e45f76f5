/// An address configured on an interface, e.g. `192.168.1.5/24` (host bits allowed).
public struct InterfaceAddress: Hashable, Sendable, CustomStringConvertible {
    public var address: IPAddress
    public var prefixLength: Int
    public init(address: IPAddress, prefixLength: Int) {
        self.address = address
        self.prefixLength = prefixLength
    }
    public var description: String { "\(address)/\(prefixLength)" }
}

public struct LinkState: Hashable, Sendable {
    public var name: String
    public var index: Int32
    public var mtu: Int
    public var isUp: Bool
    public var addresses: [InterfaceAddress]
    /// rtnetlink's link kind ("wireguard", "tun", "veth", …), nil when the kernel gives none.
    public var kind: String?

    public init(name: String, index: Int32, mtu: Int, isUp: Bool, addresses: [InterfaceAddress], kind: String?) {
        self.name = name
        self.index = index
        self.mtu = mtu
        self.isUp = isUp
        self.addresses = addresses
        self.kind = kind
    }
}

/// A route in a policy routing table.
public struct RouteSpec: Hashable, Comparable, Sendable, CustomStringConvertible {
    public enum Target: Hashable, Sendable {
        /// Send out of this interface (scope link, no gateway).
        case device(String)
        /// Leave this table and continue with the next policy rule (plain routing).
        case `throw`
        /// Drop with ICMP unreachable: strict mode's answer to "no encrypted path".
        case unreachable
    }
    public var destination: IPPrefix
    public var table: UInt32
    public var target: Target

    public init(destination: IPPrefix, table: UInt32, target: Target) {
        self.destination = destination
        self.table = table
        self.target = target
    }

    public var description: String {
        switch target {
        case .device(let dev): "\(destination) dev \(dev) table \(table)"
        case .throw: "throw \(destination) table \(table)"
        case .unreachable: "unreachable \(destination) table \(table)"
        }
    }

    public static func < (a: RouteSpec, b: RouteSpec) -> Bool {
        a.destination != b.destination ? a.destination < b.destination : a.description < b.description
    }
}

/// A policy routing rule: `[not] fwmark MARK/MASK lookup TABLE` at `priority`.
public struct RuleSpec: Hashable, Sendable, CustomStringConvertible {
    public var family: IPAddress.Family
    public var priority: UInt32
    public var fwmark: UInt32
    public var fwmask: UInt32
    public var table: UInt32
    public var invert: Bool

    public init(family: IPAddress.Family, priority: UInt32, fwmark: UInt32, fwmask: UInt32, table: UInt32, invert: Bool) {
        self.family = family
        self.priority = priority
        self.fwmark = fwmark
        self.fwmask = fwmask
        self.table = table
        self.invert = invert
    }

    public var description: String {
        let hex = { (v: UInt32) in "0x" + String(v, radix: 16) }
        return "\(priority): \(invert ? "not " : "")from all fwmark \(hex(fwmark))/\(hex(fwmask)) lookup \(table)"
    }
}

/// The routing port: links, addresses, routes and rules through rtnetlink.
///
/// Errors are ``MeshError``s. Idempotence is part of the contract: adding what exists, or
/// deleting what does not, succeeds. `.notFound` is thrown only when a named link is missing
/// for an operation that needs it.
public protocol Routing: Sendable {
    /// Every link in this network namespace, with its addresses.
    func links() async throws -> [LinkState]
    /// One link, or nil.
    func link(named name: String) async throws -> LinkState?
    /// Sets the MTU and/or the up flag; nil leaves a field unchanged.
    func setLink(named name: String, mtu: Int?, up: Bool?) async throws
    func addAddress(_ address: InterfaceAddress, to link: String) async throws
    func removeAddress(_ address: InterfaceAddress, from link: String) async throws
    func deleteLink(named name: String) async throws

    /// Every route of `family` in `table` (unicast to a device, throw and unreachable).
    func routes(table: UInt32, family: IPAddress.Family) async throws -> [RouteSpec]
    /// Adds or replaces (atomically) the route for `route.destination` in `route.table`.
    func replaceRoute(_ route: RouteSpec) async throws
    func deleteRoute(_ route: RouteSpec) async throws

    /// Every policy rule of `family`.
    func rules(family: IPAddress.Family) async throws -> [RuleSpec]
    func addRule(_ rule: RuleSpec) async throws
    func deleteRule(_ rule: RuleSpec) async throws
}
