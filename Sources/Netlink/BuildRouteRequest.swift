import CLibMNL

package enum RouteRequest {
    /// `RTM_GETROUTE` dump of `family`. The kernel ignores the table in a dump request unless
    /// the socket enables `NETLINK_GET_STRICT_CHK`, so callers filter the reply by table.
    package static func dump(family: AddressFamily) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(RTM_GETROUTE), flags: [.request, .dump])
        var header = rtmsg()
        header.rtm_family = family.rawValue
        try request.appendHeader(header)
        return request.bytes
    }

    /// `RTM_NEWROUTE` with `NLM_F_CREATE | NLM_F_REPLACE`: installs the route, or atomically
    /// replaces the one with the same destination (and metric) in its table, whatever its type.
    package static func replace(_ route: RouteMessage) throws(NetlinkError) -> [UInt8] {
        try build(RTM_NEWROUTE, [.request, .acknowledge, .create, .replace], route)
    }

    /// `RTM_DELROUTE`: the kernel deletes the first route matching the given fields (scope
    /// `.nowhere` and protocol `.unspecified` match any) and answers `ESRCH` when none does.
    package static func delete(_ route: RouteMessage) throws(NetlinkError) -> [UInt8] {
        try build(RTM_DELROUTE, [.request, .acknowledge], route)
    }

    /// `rtmsg`, then `RTA_TABLE` (always, u32: the header byte cannot hold ids above 255, and
    /// the kernel lets the attribute override the byte), `RTA_DST`, `RTA_OIF`.
    private static func build(_ type: Int, _ flags: NetlinkFlags, _ route: RouteMessage) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(type), flags: flags)
        var header = rtmsg()
        header.rtm_family = route.family.rawValue
        header.rtm_dst_len = route.destinationLength
        header.rtm_src_len = route.sourceLength
        header.rtm_tos = route.tos
        header.rtm_table = tableByte(route.table)
        header.rtm_protocol = route.origin.rawValue
        header.rtm_scope = route.scope.rawValue
        header.rtm_type = route.type.rawValue
        header.rtm_flags = route.flags
        try request.appendHeader(header)
        try request.put(UInt16(RTA_TABLE.rawValue), u32: route.table)
        if let destination = route.destination { try request.put(UInt16(RTA_DST.rawValue), bytes: destination) }
        if let index = route.outputInterface { try request.put(UInt16(RTA_OIF.rawValue), u32: index) }
        return request.bytes
    }
}
