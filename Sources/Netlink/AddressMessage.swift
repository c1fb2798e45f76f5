/// An interface address as `RTM_NEWADDR` reports it, or as a request adds or removes it.
package struct AddressMessage: Hashable, Sendable {
    package var family: AddressFamily
    package var prefixLength: UInt8
    package var interfaceIndex: UInt32
    /// The local address: 4 or 16 bytes, network order.
    package var address: [UInt8]

    package init(family: AddressFamily, prefixLength: UInt8, interfaceIndex: UInt32, address: [UInt8]) {
        self.family = family
        self.prefixLength = prefixLength
        self.interfaceIndex = interfaceIndex
        self.address = address
    }
}
