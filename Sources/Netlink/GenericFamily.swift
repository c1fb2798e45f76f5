/// A generic netlink family as the controller describes it.
package struct GenericFamily: Hashable, Sendable {
    /// The message type of the family's requests and replies; assigned when the family
    /// registers, so it differs between boots and between module loads.
    package var id: UInt16
    package var name: String
    /// The family's protocol version (`CTRL_ATTR_VERSION`); 0 when the reply has none.
    package var version: UInt32

    package init(id: UInt16, name: String, version: UInt32) {
        self.id = id
        self.name = name
        self.version = version
    }

    /// Parses the controller's `CTRL_CMD_NEWFAMILY` answer (`genlmsghdr`, then attributes).
    /// - Throws: `.malformedMessage` for a message that is not from the controller or has
    ///   no family id.
    package init(parsing message: NetlinkMessage) throws(NetlinkError) {
        guard message.type == GenericNetlink.controllerID else {
            throw NetlinkError(.malformedMessage, "expected a generic netlink controller reply, got message type \(message.type)")
        }
        let attributes = try message.attributes(afterHeaderOfSize: GenericNetlink.headerLength)
        guard let id = try attributes.u16(GenericNetlink.familyIDAttribute) else {
            throw NetlinkError(.malformedMessage, "the controller's family reply has no CTRL_ATTR_FAMILY_ID")
        }
        self.init(id: id, name: attributes.string(GenericNetlink.familyNameAttribute) ?? "",
                  version: try attributes.u32(GenericNetlink.familyVersionAttribute) ?? 0)
    }
}

extension NetlinkSocket {
    /// Looks up a generic netlink family by name. Only on a `.generic` socket.
    ///
    /// On kernels built with modules, the controller first tries to load a module that
    /// declares the family (`request_module("net-pf-16-proto-16-family-<name>")`), so a
    /// successful answer may be the result of a module load.
    /// - Throws: `.kernelRejected` with `ENOENT` when no such family is registered and none
    ///   could be loaded; `.kernelRejected` with `EINVAL` for a name over 15 bytes.
    package mutating func genericFamily(named name: String) throws(NetlinkError) -> GenericFamily {
        let replies = try request(GenericFamilyRequest.get(named: name))
        guard let reply = replies.first else {
            throw NetlinkError(.malformedMessage, "the controller acknowledged the lookup of family \(name) without describing it")
        }
        return try GenericFamily(parsing: reply)
    }
}
