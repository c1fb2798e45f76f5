import CLibMNL

extension AddressMessage {
    /// Parses an `RTM_NEWADDR` message.
    ///
    /// The local address is `IFA_LOCAL` when present, else `IFA_ADDRESS`: for IPv4 on a
    /// point-to-point link `IFA_ADDRESS` is the *peer*, while IPv6 sends `IFA_LOCAL` only when
    /// a peer is set (iproute2 reads them the same way).
    /// - Throws: `.malformedMessage` for another message type, a short header, or no address.
    package init(parsing message: NetlinkMessage) throws(NetlinkError) {
        guard message.type == UInt16(RTM_NEWADDR) else {
            throw NetlinkError(.malformedMessage, "expected RTM_NEWADDR, got message type \(message.type)")
        }
        let header = try message.familyHeader(ifaddrmsg.self)
        let attributes = try message.attributes(afterHeaderOfSize: MemoryLayout<ifaddrmsg>.size)
        guard let address = attributes.bytes(UInt16(IFA_LOCAL)) ?? attributes.bytes(UInt16(IFA_ADDRESS)) else {
            throw NetlinkError(.malformedMessage, "RTM_NEWADDR on index \(header.ifa_index) has no address")
        }
        self.init(family: AddressFamily(rawValue: header.ifa_family), prefixLength: header.ifa_prefixlen,
                  interfaceIndex: header.ifa_index, address: address)
    }
}
