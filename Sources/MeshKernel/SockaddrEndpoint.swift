import MeshCore

// `WGPEER_A_ENDPOINT` is a raw `struct sockaddr_in` (16 bytes) or `struct sockaddr_in6`
// (28 bytes), as the kernel's socket code uses them: `sa_family` in host order, the port and
// the address in network order. wg(8) and wgctrl-go send and expect exactly these sizes.

/// `sizeof(struct sockaddr_in)`: family 2, port 2, address 4, zero padding 8.
let sockaddrInLength = 16
/// `sizeof(struct sockaddr_in6)`: family 2, port 2, flow info 4, address 16, scope id 4.
let sockaddrIn6Length = 28

/// The sockaddr for `endpoint`. IPv6 flow info and scope id are 0: an ``Endpoint`` has no
/// zone, and link-local endpoints are not something a mesh of nodes uses.
func sockaddrBytes(of endpoint: Endpoint) -> [UInt8] {
    var bytes: [UInt8] = []
    switch endpoint.address {
    case .v4:
        bytes.reserveCapacity(sockaddrInLength)
        bytes.appendHostOrder(WGFamily.inet)
        bytes.appendHostOrder(endpoint.port.bigEndian)
        bytes += endpoint.address.bytes
        bytes += [UInt8](repeating: 0, count: 8)  // sin_zero
    case .v6:
        bytes.reserveCapacity(sockaddrIn6Length)
        bytes.appendHostOrder(WGFamily.inet6)
        bytes.appendHostOrder(endpoint.port.bigEndian)
        bytes.appendHostOrder(UInt32(0))  // sin6_flowinfo
        bytes += endpoint.address.bytes
        bytes.appendHostOrder(UInt32(0))  // sin6_scope_id
    }
    return bytes
}

/// The endpoint in a sockaddr, or nil for an address family this model has no endpoint for
/// (the kernel sends only AF_INET and AF_INET6; others are skipped, as wg(8) skips them).
/// - Throws: `.backendFailure` when an AF_INET/AF_INET6 sockaddr has the wrong size.
func endpoint(fromSockaddr bytes: ArraySlice<UInt8>) throws(MeshError) -> Endpoint? {
    guard bytes.count >= 2 else { throw malformedDump("an endpoint of \(bytes.count) bytes is not a sockaddr") }
    let family = bytes.loadHostOrder(UInt16.self, at: 0)
    let expected: Int
    switch family {
    case WGFamily.inet: expected = sockaddrInLength
    case WGFamily.inet6: expected = sockaddrIn6Length
    default: return nil
    }
    guard bytes.count == expected else {
        throw malformedDump("an endpoint of family \(family) has \(bytes.count) bytes, expected \(expected)")
    }
    let port = UInt16(bigEndian: bytes.loadHostOrder(UInt16.self, at: 2))
    let start = bytes.startIndex + (family == WGFamily.inet ? 4 : 8)
    let address = IPAddress(bytes: bytes[start..<(start + (family == WGFamily.inet ? 4 : 16))])!
    return Endpoint(address: address, port: port)
}

extension Array where Element == UInt8 {
    mutating func appendHostOrder<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
    }
}

extension ArraySlice where Element == UInt8 {
    /// A host-order integer at `offset` from the slice's start; the caller checked the length.
    func loadHostOrder<T: FixedWidthInteger>(_: T.Type, at offset: Int) -> T {
        withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: T.self) }
    }
}
