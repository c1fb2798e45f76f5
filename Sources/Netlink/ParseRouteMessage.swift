import CLibMNL

extension RouteMessage {
    /// Parses an `RTM_NEWROUTE` message.
    ///
    /// The table is `RTA_TABLE` when present: for ids above 255 the kernel puts
    /// `RT_TABLE_COMPAT` (252) in the 8-bit `rtm_table`, which would alias a real table.
    /// - Throws: `.malformedMessage` for another message type, a short header, or a bad attribute.
    package init(parsing message: NetlinkMessage) throws(NetlinkError) {
        guard message.type == UInt16(RTM_NEWROUTE) else {
            throw NetlinkError(.malformedMessage, "expected RTM_NEWROUTE, got message type \(message.type)")
        }
        let header = try message.familyHeader(rtmsg.self)
        let attributes = try message.attributes(afterHeaderOfSize: MemoryLayout<rtmsg>.size)
        self.init(family: AddressFamily(rawValue: header.rtm_family), destinationLength: header.rtm_dst_len,
                  table: try attributes.u32(UInt16(RTA_TABLE.rawValue)) ?? UInt32(header.rtm_table),
                  origin: RouteProtocol(rawValue: header.rtm_protocol), scope: RouteScope(rawValue: header.rtm_scope),
                  type: RouteType(rawValue: header.rtm_type), destination: attributes.bytes(UInt16(RTA_DST.rawValue)),
                  outputInterface: try attributes.u32(UInt16(RTA_OIF.rawValue)))
        sourceLength = header.rtm_src_len
        tos = header.rtm_tos
        flags = header.rtm_flags
        gateway = attributes.bytes(UInt16(RTA_GATEWAY.rawValue))
        hasMultipath = attributes.contains(UInt16(RTA_MULTIPATH.rawValue))
    }
}
