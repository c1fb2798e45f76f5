import CLibMNL

/// `nlmsghdr.nlmsg_flags`. The `NLM_F_*` macros import as `Int32`; this gives them one type.
public struct NetlinkFlags: OptionSet, Hashable, Sendable {
    public let rawValue: UInt16
    public init(rawValue: UInt16) { self.rawValue = rawValue }

    public static let request = NetlinkFlags(NLM_F_REQUEST)
    public static let multipart = NetlinkFlags(NLM_F_MULTI)
    public static let acknowledge = NetlinkFlags(NLM_F_ACK)
    public static let dumpInterrupted = NetlinkFlags(NLM_F_DUMP_INTR)
    /// `NLM_F_ROOT | NLM_F_MATCH`.
    public static let dump = NetlinkFlags(NLM_F_DUMP)
    /// On a new-object request: replace an existing one.
    public static let replace = NetlinkFlags(NLM_F_REPLACE)
    /// On a new-object request: fail with `EEXIST` if it exists.
    public static let exclusive = NetlinkFlags(NLM_F_EXCL)
    /// On a new-object request: create it if it does not exist.
    public static let create = NetlinkFlags(NLM_F_CREATE)
    public static let append = NetlinkFlags(NLM_F_APPEND)
    /// On an `NLMSG_ERROR` reply: the original request was not echoed (`NETLINK_CAP_ACK`).
    public static let capped = NetlinkFlags(NLM_F_CAPPED)
    /// On an `NLMSG_ERROR` or `NLMSG_DONE` reply: extended-ack attributes follow.
    public static let ackTLVs = NetlinkFlags(NLM_F_ACK_TLVS)

    private init(_ flag: Int32) { rawValue = UInt16(flag) }
}
