import CLibMNL

extension LinkMessage {
    /// Parses an `RTM_NEWLINK` message: `ifinfomsg`, `IFLA_IFNAME`, `IFLA_MTU`, `IFLA_LINKINFO`.
    /// - Throws: `.malformedMessage` for another message type, a short header, or a link
    ///   without a name (the kernel always sends one).
    package init(parsing message: NetlinkMessage) throws(NetlinkError) {
        guard message.type == UInt16(RTM_NEWLINK) else {
            throw NetlinkError(.malformedMessage, "expected RTM_NEWLINK, got message type \(message.type)")
        }
        let header = try message.familyHeader(ifinfomsg.self)
        let attributes = try message.attributes(afterHeaderOfSize: MemoryLayout<ifinfomsg>.size)
        guard let name = attributes.string(UInt16(IFLA_IFNAME)) else {
            throw NetlinkError(.malformedMessage, "RTM_NEWLINK for index \(header.ifi_index) has no IFLA_IFNAME")
        }
        let kind = try attributes.nested(UInt16(IFLA_LINKINFO))?.string(UInt16(IFLA_INFO_KIND))
        self.init(index: header.ifi_index, flags: header.ifi_flags, name: name,
                  mtu: try attributes.u32(UInt16(IFLA_MTU)) ?? 0, kind: kind)
    }
}
