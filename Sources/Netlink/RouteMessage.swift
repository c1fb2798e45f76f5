import CLibMNL

/// A route as `RTM_NEWROUTE` reports it, or as a request installs or deletes it.
package struct RouteMessage: Hashable, Sendable {
    package var family: AddressFamily
    package var destinationLength: UInt8
    /// Source-prefix length (`ip route add … from`); the mesh never sets it.
    package var sourceLength: UInt8 = 0
    package var tos: UInt8 = 0
    /// The full table id (`RTA_TABLE`), not the 8-bit header field.
    package var table: UInt32
    package var origin: RouteProtocol
    package var scope: RouteScope
    package var type: RouteType
    /// `rtm_flags` (`RTM_F_CLONED`, …).
    package var flags: UInt32 = 0
    /// `RTA_DST`, 4 or 16 bytes; nil for the default route (length 0).
    package var destination: [UInt8]?
    /// `RTA_OIF`.
    package var outputInterface: UInt32?
    /// `RTA_GATEWAY` (parsed only).
    package var gateway: [UInt8]?
    /// `RTA_MULTIPATH` present (parsed only): several next hops, none in `outputInterface`.
    package var hasMultipath = false

    package init(family: AddressFamily, destinationLength: UInt8, table: UInt32, origin: RouteProtocol,
                 scope: RouteScope, type: RouteType, destination: [UInt8]?, outputInterface: UInt32?) {
        self.family = family
        self.destinationLength = destinationLength
        self.table = table
        self.origin = origin
        self.scope = scope
        self.type = type
        self.destination = destination
        self.outputInterface = outputInterface
    }

    /// A cached clone (`RTM_F_CLONED`): an exception such as a PMTU entry, not a FIB route.
    package var isCloned: Bool { flags & UInt32(RTM_F_CLONED) != 0 }
}
