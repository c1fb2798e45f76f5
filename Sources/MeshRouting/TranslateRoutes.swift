import MeshCore
import Netlink

/// The request message for `route`, its device already resolved to `outputInterface`.
///
/// Device routes are `RTN_UNICAST`, scope link (no gateway: the peer is on the link) and
/// protocol `static`, so `ip route` shows them as `proto static scope link`; ownership is by
/// table, not by protocol. Throw and unreachable routes have no device and scope universe,
/// as `ip route add throw|unreachable` sends them.
package func routeMessage(_ route: RouteSpec, outputInterface: Int32?) -> RouteMessage {
    var type = RouteType.unicast
    var scope = RouteScope.universe
    switch route.target {
    case .device: scope = .link
    case .throw: type = .throw
    case .unreachable: type = .unreachable
    }
    return RouteMessage(family: addressFamily(route.destination.family),
                        destinationLength: UInt8(route.destination.length), table: route.table,
                        origin: .static, scope: scope, type: type,
                        destination: route.destination.address.bytes,
                        outputInterface: outputInterface.map { UInt32(bitPattern: $0) })
}

/// The delete request for `route`: same destination, table, type and device, any scope and
/// any protocol, so a route that someone else re-added with other details still goes.
package func deleteRouteMessage(_ route: RouteSpec, outputInterface: Int32?) -> RouteMessage {
    var message = routeMessage(route, outputInterface: outputInterface)
    message.scope = .nowhere
    message.origin = .unspecified
    return message
}

/// The ``RouteSpec`` for a dumped route of `table`, or nil for a route the port does not
/// model: another table or family, a cached clone, a source-specific or TOS route, a gateway
/// or multipath route, a local/broadcast/blackhole/prohibit route, or a device route whose
/// device vanished between the two dumps.
package func routeSpec(_ message: RouteMessage, table: UInt32, family: IPAddress.Family,
                       linkNames: [UInt32: String]) -> RouteSpec? {
    guard message.table == table, message.family == addressFamily(family), !message.isCloned,
          message.sourceLength == 0, message.tos == 0, let destination = destinationPrefix(message, family)
    else { return nil }
    switch message.type {
    case .unicast:
        guard message.gateway == nil, !message.hasMultipath,
              let index = message.outputInterface, let name = linkNames[index] else { return nil }
        return RouteSpec(destination: destination, table: table, target: .device(name))
    case .throw:
        return RouteSpec(destination: destination, table: table, target: .throw)
    case .unreachable:
        return RouteSpec(destination: destination, table: table, target: .unreachable)
    default:
        return nil
    }
}

/// `RTA_DST` is absent for the default route.
private func destinationPrefix(_ message: RouteMessage, _ family: IPAddress.Family) -> IPPrefix? {
    let address: IPAddress?
    if let bytes = message.destination {
        address = IPAddress(bytes: bytes)
    } else {
        address = family == .inet ? .v4(0) : .v6(0)
    }
    guard let address, address.family == family else { return nil }
    return try? IPPrefix(address: address, length: Int(message.destinationLength))
}
