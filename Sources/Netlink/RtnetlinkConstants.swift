import CLibMNL
import Glibc

// Typed rtnetlink constants. The C names import with mixed types (`#define`s as Int32,
// anonymous enums as Int, named enums as structs); these give each field one Swift type.
// `package`: this vocabulary is shared with MeshRouting and the tests, not a product API.

/// `AF_*` in `rtmsg.rtm_family`, `ifaddrmsg.ifa_family`, `fib_rule_hdr.family`.
package struct AddressFamily: RawRepresentable, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    package static let unspecified = AddressFamily(rawValue: UInt8(AF_UNSPEC))
    package static let inet = AddressFamily(rawValue: UInt8(AF_INET))
    package static let inet6 = AddressFamily(rawValue: UInt8(AF_INET6))
}

/// `rtm_type`.
package struct RouteType: RawRepresentable, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    package static let unspecified = RouteType(rawValue: UInt8(RTN_UNSPEC))
    package static let unicast = RouteType(rawValue: UInt8(RTN_UNICAST))
    package static let local = RouteType(rawValue: UInt8(RTN_LOCAL))
    package static let broadcast = RouteType(rawValue: UInt8(RTN_BROADCAST))
    package static let blackhole = RouteType(rawValue: UInt8(RTN_BLACKHOLE))
    package static let unreachable = RouteType(rawValue: UInt8(RTN_UNREACHABLE))
    package static let prohibit = RouteType(rawValue: UInt8(RTN_PROHIBIT))
    /// Leave this table and continue with the next policy rule.
    package static let `throw` = RouteType(rawValue: UInt8(RTN_THROW))
}

/// `rtm_scope`.
package struct RouteScope: RawRepresentable, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    package static let universe = RouteScope(rawValue: UInt8(RT_SCOPE_UNIVERSE.rawValue))
    package static let link = RouteScope(rawValue: UInt8(RT_SCOPE_LINK.rawValue))
    package static let host = RouteScope(rawValue: UInt8(RT_SCOPE_HOST.rawValue))
    /// On delete: match any scope.
    package static let nowhere = RouteScope(rawValue: UInt8(RT_SCOPE_NOWHERE.rawValue))
}

/// `rtm_protocol`: who installed a route. The kernel does not interpret values ≥ `static`.
package struct RouteProtocol: RawRepresentable, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    /// On delete: match any protocol.
    package static let unspecified = RouteProtocol(rawValue: UInt8(RTPROT_UNSPEC))
    package static let kernel = RouteProtocol(rawValue: UInt8(RTPROT_KERNEL))
    package static let boot = RouteProtocol(rawValue: UInt8(RTPROT_BOOT))
    package static let `static` = RouteProtocol(rawValue: UInt8(RTPROT_STATIC))
}

/// `fib_rule_hdr.action`.
package struct RuleAction: RawRepresentable, Hashable, Sendable {
    package let rawValue: UInt8
    package init(rawValue: UInt8) { self.rawValue = rawValue }
    package static let unspecified = RuleAction(rawValue: UInt8(FR_ACT_UNSPEC))
    package static let toTable = RuleAction(rawValue: UInt8(FR_ACT_TO_TBL))
    package static let goto = RuleAction(rawValue: UInt8(FR_ACT_GOTO))
    package static let blackhole = RuleAction(rawValue: UInt8(FR_ACT_BLACKHOLE))
    package static let unreachable = RuleAction(rawValue: UInt8(FR_ACT_UNREACHABLE))
    package static let prohibit = RuleAction(rawValue: UInt8(FR_ACT_PROHIBIT))
}

/// The 8-bit table field of `rtmsg`/`fib_rule_hdr` for `table`. Ids above 255 do not fit; they
/// go in `RTA_TABLE`/`FRA_TABLE` with the byte left `RT_TABLE_UNSPEC` (as iproute2 does).
func tableByte(_ table: UInt32) -> UInt8 {
    table < 256 ? UInt8(table) : UInt8(RT_TABLE_UNSPEC.rawValue)
}

/// Message type and attribute type numbers as the `UInt16`s netlink headers hold.
extension UInt16 {
    init(_ type: Int) { self.init(truncatingIfNeeded: type) }
}
