import MeshCore
import Netlink

/// Joins the link and address dumps into ``LinkState``s, ordered by interface index.
/// Addresses of families other than IPv4/IPv6, or of unknown links, are left out.
package func linkStates(_ links: [LinkMessage], _ addresses: [AddressMessage]) -> [LinkState] {
    var byIndex: [UInt32: [InterfaceAddress]] = [:]
    for message in addresses {
        guard let address = interfaceAddress(message) else { continue }
        byIndex[message.interfaceIndex, default: []].append(address)
    }
    return links.sorted { $0.index < $1.index }.map { link in
        LinkState(name: link.name, index: link.index, mtu: Int(link.mtu), isUp: link.isUp,
                  addresses: byIndex[UInt32(bitPattern: link.index)] ?? [], kind: link.kind)
    }
}

package func interfaceAddress(_ message: AddressMessage) -> InterfaceAddress? {
    guard message.family == .inet || message.family == .inet6,
          let address = IPAddress(bytes: message.address) else { return nil }
    return InterfaceAddress(address: address, prefixLength: Int(message.prefixLength))
}

package func addressMessage(_ address: InterfaceAddress, interfaceIndex: Int32,
                            operation: String) throws(MeshError) -> AddressMessage {
    guard (0...address.address.bitWidth).contains(address.prefixLength) else {
        throw MeshError(.invalidArgument, "\(operation): prefix length /\(address.prefixLength) is out of range")
    }
    return AddressMessage(family: addressFamily(address.address.family), prefixLength: UInt8(address.prefixLength),
                          interfaceIndex: UInt32(bitPattern: interfaceIndex), address: address.address.bytes)
}

package func addressFamily(_ family: IPAddress.Family) -> AddressFamily {
    switch family {
    case .inet: .inet
    case .inet6: .inet6
    }
}

/// The kernel's own check (`dev_valid_name`): 1 to 15 bytes, not "." or "..", no '/', ':' or
/// whitespace. Checked here so a bad name is `.invalidArgument` naming the operation, and
/// never a lookup that "finds nothing".
package func validateInterfaceName(_ name: String, operation: String) throws(MeshError) {
    let bytes = Array(name.utf8)
    guard (1...15).contains(bytes.count), name != ".", name != "..",
          !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7F })
    else {
        throw MeshError(.invalidArgument, "\(operation): '\(name)' is not a valid interface name")
    }
}
