import CLibMNL

package enum AddressRequest {
    /// `RTM_GETADDR` dump of every address of `family` (`.unspecified`: IPv4 and IPv6).
    package static func dump(family: AddressFamily) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(RTM_GETADDR), flags: [.request, .dump])
        try request.appendHeader(ifaddrmsg(family: family, prefixLength: 0, index: 0))
        return request.bytes
    }

    /// `RTM_NEWADDR` with `NLM_F_CREATE | NLM_F_EXCL`: `EEXIST` when the address is there.
    /// `IFA_LOCAL` and `IFA_ADDRESS` are both the address (no peer), as `ip addr add` sends them.
    package static func add(_ address: AddressMessage) throws(NetlinkError) -> [UInt8] {
        try build(RTM_NEWADDR, [.request, .acknowledge, .create, .exclusive], address)
    }

    /// `RTM_DELADDR`: `EADDRNOTAVAIL` when the address is not there.
    package static func delete(_ address: AddressMessage) throws(NetlinkError) -> [UInt8] {
        try build(RTM_DELADDR, [.request, .acknowledge], address)
    }

    private static func build(_ type: Int, _ flags: NetlinkFlags, _ address: AddressMessage) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(type), flags: flags)
        try request.appendHeader(ifaddrmsg(family: address.family, prefixLength: address.prefixLength,
                                           index: address.interfaceIndex))
        try request.put(UInt16(IFA_LOCAL), bytes: address.address)
        try request.put(UInt16(IFA_ADDRESS), bytes: address.address)
        return request.bytes
    }
}

extension ifaddrmsg {
    /// Scope 0 (universe) and no flags, as `ip addr add` sends for a non-loopback address.
    init(family: AddressFamily, prefixLength: UInt8, index: UInt32) {
        self.init()
        ifa_family = family.rawValue
        ifa_prefixlen = prefixLength
        ifa_index = index
    }
}
