import CLibMNL
import Glibc

/// Requests about links, addressed by name (`IFLA_IFNAME` with `ifi_index` 0), so callers
/// never resolve names with `if_nametoindex(3)`: that asks the *calling thread's* namespace,
/// which is not the socket's when the socket was opened in another one.
package enum LinkRequest {
    /// `RTM_GETLINK` dump of every link.
    package static func dump() throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(RTM_GETLINK), flags: [.request, .dump])
        try request.appendHeader(ifinfomsg(family: .unspecified))
        try request.put(UInt16(IFLA_EXT_MASK), u32: UInt32(RTEXT_FILTER_SKIP_STATS))
        return request.bytes
    }

    /// `RTM_GETLINK` for one link by name; the kernel answers `ENODEV` when there is none.
    package static func get(named name: String) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(RTM_GETLINK), flags: [.request, .acknowledge])
        try request.appendHeader(ifinfomsg(family: .unspecified))
        try request.put(UInt16(IFLA_IFNAME), string: name)
        try request.put(UInt16(IFLA_EXT_MASK), u32: UInt32(RTEXT_FILTER_SKIP_STATS))
        return request.bytes
    }

    /// `RTM_SETLINK` by name: MTU and/or the up flag; nil leaves a field alone.
    ///
    /// `RTM_SETLINK` only modifies (`RTM_NEWLINK` could create). `ifi_change` says which flag
    /// bits to apply: the kernel treats `ifi_change == 0` with non-zero `ifi_flags` as "set all
    /// flags", so the change mask is set exactly when `up` is given.
    package static func set(named name: String, mtu: UInt32?, up: Bool?) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(RTM_SETLINK), flags: [.request, .acknowledge])
        var header = ifinfomsg(family: .unspecified)
        if let up {
            header.ifi_change = UInt32(IFF_UP)
            header.ifi_flags = up ? UInt32(IFF_UP) : 0
        }
        try request.appendHeader(header)
        try request.put(UInt16(IFLA_IFNAME), string: name)
        if let mtu { try request.put(UInt16(IFLA_MTU), u32: mtu) }
        return request.bytes
    }

    /// `RTM_NEWLINK` creating a link of driver `kind` ("wireguard"; kinds that need
    /// `IFLA_INFO_DATA`, such as veth's peer, are not covered) with `NLM_F_CREATE | NLM_F_EXCL`,
    /// as `ip link add dev NAME type KIND` sends it: `IFLA_IFNAME`, then
    /// `IFLA_LINKINFO { IFLA_INFO_KIND }`. The kernel answers `EEXIST` when the name is taken
    /// (by a link of any kind) and `EOPNOTSUPP` when no driver registers `kind`, after trying
    /// to load the module `rtnl-link-<kind>`.
    package static func create(named name: String, kind: String) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(RTM_NEWLINK), flags: [.request, .acknowledge, .create, .exclusive])
        try request.appendHeader(ifinfomsg(family: .unspecified))
        try request.put(UInt16(IFLA_IFNAME), string: name)
        let linkInfo = try request.beginNest(UInt16(IFLA_LINKINFO))
        try request.put(UInt16(IFLA_INFO_KIND), string: kind)
        request.endNest(linkInfo)
        return request.bytes
    }

    /// `RTM_DELLINK` by name; `ENODEV` when there is none. Deleting one end of a veth pair
    /// deletes both.
    package static func delete(named name: String) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(RTM_DELLINK), flags: [.request, .acknowledge])
        try request.appendHeader(ifinfomsg(family: .unspecified))
        try request.put(UInt16(IFLA_IFNAME), string: name)
        return request.bytes
    }
}

extension ifinfomsg {
    init(family: AddressFamily) {
        self.init()
        ifi_family = family.rawValue
    }
}
