import CLibMNL

// Generic netlink (`<linux/genetlink.h>`): one netlink bus shared by many families, each with a
// dynamic message type that the controller family (`GENL_ID_CTRL`) hands out by name. Typed
// here because the C names import with mixed types (macros as Int32, anonymous enums as Int).

package enum GenericNetlink {
    /// `sizeof(struct genlmsghdr)`: command, version, two reserved bytes.
    package static let headerLength = MemoryLayout<genlmsghdr>.size

    /// The controller's fixed family id (`GENL_ID_CTRL`, equal to `NLMSG_MIN_TYPE`).
    package static let controllerID = UInt16(GENL_ID_CTRL)
    /// The controller protocol's version; the kernel ignores it, libmnl and wg(8) send 1.
    package static let controllerVersion: UInt8 = 1

    /// `CTRL_CMD_GETFAMILY`: ask for a family by name; answered with `CTRL_CMD_NEWFAMILY`.
    package static let getFamilyCommand = UInt8(CTRL_CMD_GETFAMILY)
    package static let newFamilyCommand = UInt8(CTRL_CMD_NEWFAMILY)

    /// `CTRL_ATTR_FAMILY_ID`: u16, the message type to use for the family.
    package static let familyIDAttribute = UInt16(CTRL_ATTR_FAMILY_ID)
    /// `CTRL_ATTR_FAMILY_NAME`: NUL-terminated string (`NLA_NUL_STRING`, at most 15 bytes).
    package static let familyNameAttribute = UInt16(CTRL_ATTR_FAMILY_NAME)
    /// `CTRL_ATTR_VERSION`: u32, the family's own protocol version.
    package static let familyVersionAttribute = UInt16(CTRL_ATTR_VERSION)

    /// `GENL_NAMSIZ - 1`: the longest family name the controller accepts.
    package static let maximumFamilyNameLength = Int(GENL_NAMSIZ) - 1
}
