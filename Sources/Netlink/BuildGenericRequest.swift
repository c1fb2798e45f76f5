import CLibMNL

extension NetlinkRequest {
    /// libmnl's `MNL_SOCKET_BUFFER_SIZE`: the page size, at most 8 KiB. wg(8) splits WireGuard
    /// configurations into messages of this size (`mnl_ideal_socket_buffer_size()`); the
    /// kernel would take larger ones (its limit is the socket's send buffer), but a message
    /// per page is what every kernel has been tested with.
    public static var socketBufferSize: Int { Int(cmnl_socket_buffer_size()) }

    /// Starts a generic netlink message: `nlmsg_type` is the family id, then `genlmsghdr`
    /// with `command` and `version`. Attributes follow with the usual puts.
    /// - Throws: `.messageTooLarge` when `capacity` cannot hold the two headers.
    package init(family: UInt16, command: UInt8, version: UInt8, flags: NetlinkFlags,
                 capacity: Int = NetlinkRequest.socketBufferSize) throws(NetlinkError) {
        guard capacity >= NetlinkMessage.headerLength + GenericNetlink.headerLength else {
            throw NetlinkError(.messageTooLarge,
                "a generic netlink message needs \(NetlinkMessage.headerLength + GenericNetlink.headerLength) bytes, the buffer has \(capacity)")
        }
        self.init(type: family, flags: flags, capacity: capacity)
        var header = genlmsghdr()
        header.cmd = command
        header.version = version
        try appendHeader(header)
    }
}

/// Requests to the generic netlink controller.
package enum GenericFamilyRequest {
    /// `CTRL_CMD_GETFAMILY` by name, as `mnlg_socket_open` sends it: `NLM_F_REQUEST |
    /// NLM_F_ACK`, `CTRL_ATTR_FAMILY_NAME` with its NUL. The kernel answers one
    /// `CTRL_CMD_NEWFAMILY` message, or `ENOENT` when no such family is registered (after
    /// trying to load a module that provides it).
    package static func get(named name: String) throws(NetlinkError) -> [UInt8] {
        var request = try NetlinkRequest(family: GenericNetlink.controllerID, command: GenericNetlink.getFamilyCommand,
                                         version: GenericNetlink.controllerVersion, flags: [.request, .acknowledge])
        try request.put(GenericNetlink.familyNameAttribute, string: name)
        return request.bytes
    }
}
