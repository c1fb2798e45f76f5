import Glibc

// The WireGuard generic netlink vocabulary, from `<linux/wireguard.h>` (kernel and
// wireguard-tools copies agree). Written out rather than imported: this module sees C only
// through Netlink, and Debian 12's header lacks WGALLOWEDIP_A_FLAGS anyway. Attribute numbers
// are the C enums' positions; they are ABI and never change.

/// `WG_GENL_NAME`, `WG_GENL_VERSION`, `WG_CMD_*`.
enum WireGuardGenl {
    static let familyName = "wireguard"
    /// Goes in `genlmsghdr.version` of every request.
    static let version: UInt8 = 1
    /// May only be called as a dump (`NLM_F_REQUEST | NLM_F_DUMP`).
    static let getDevice: UInt8 = 0
    /// May only be called as a plain request; wg(8) adds `NLM_F_ACK`, and so do we.
    static let setDevice: UInt8 = 1
    /// The rtnetlink link kind (`IFLA_INFO_KIND`) of a WireGuard interface.
    static let linkKind = "wireguard"
    /// `WG_KEY_LEN`.
    static let keyLength = 32
    /// `IFNAMSIZ - 1`: the policy's limit on `WGDEVICE_A_IFNAME`.
    static let maximumNameLength = 15
}

/// `enum wgdevice_attribute`.
enum WGDevice {
    static let ifindex: UInt16 = 1
    static let ifname: UInt16 = 2
    static let privateKey: UInt16 = 3
    static let publicKey: UInt16 = 4
    static let flags: UInt16 = 5
    static let listenPort: UInt16 = 6
    static let fwmark: UInt16 = 7
    static let peers: UInt16 = 8

    /// `WGDEVICE_F_REPLACE_PEERS`.
    static let replacePeers: UInt32 = 1 << 0
}

/// `enum wgpeer_attribute`.
enum WGPeer {
    /// Also the pad attribute the kernel puts before a u64 on architectures that need
    /// 8-byte alignment (`nla_put_u64_64bit(…, WGPEER_A_UNSPEC)`): skipped when reading.
    static let unspecified: UInt16 = 0
    static let publicKey: UInt16 = 1
    static let presharedKey: UInt16 = 2
    static let flags: UInt16 = 3
    static let endpoint: UInt16 = 4
    static let persistentKeepaliveInterval: UInt16 = 5
    static let lastHandshakeTime: UInt16 = 6
    static let rxBytes: UInt16 = 7
    static let txBytes: UInt16 = 8
    static let allowedIPs: UInt16 = 9
    static let protocolVersion: UInt16 = 10

    /// `WGPEER_F_REMOVE_ME`.
    static let removeMe: UInt32 = 1 << 0
    /// `WGPEER_F_REPLACE_ALLOWEDIPS`.
    static let replaceAllowedIPs: UInt32 = 1 << 1
    /// `WGPEER_F_UPDATE_ONLY`.
    static let updateOnly: UInt32 = 1 << 2
}

/// `enum wgallowedip_attribute`.
enum WGAllowedIP {
    static let family: UInt16 = 1
    static let ipAddress: UInt16 = 2
    static let cidrMask: UInt16 = 3
    /// `WGALLOWEDIP_A_FLAGS` (`WGALLOWEDIP_F_REMOVE_ME` = 1), added in 2025. Never sent: a
    /// kernel whose policy stops at `CIDR_MASK` rejects the whole message with `EINVAL`
    /// under strict validation, and the planner removes single prefixes with the
    /// placeholder peer instead (see MeshCore's `placeholderPeerKey`). Listed so that
    /// nobody adds it back by accident without reading this.
    static let flags: UInt16 = 4
}

/// Address families as `WGALLOWEDIP_A_FAMILY` and `sa_family` carry them (Linux values).
enum WGFamily {
    static let inet = UInt16(AF_INET)
    static let inet6 = UInt16(AF_INET6)
}

/// `nlmsghdr.nlmsg_type` values below `NLMSG_MIN_TYPE` (`<linux/netlink.h>`), for reading a
/// whole captured reply.
enum NetlinkControlType {
    static let noop: UInt16 = 1
    static let error: UInt16 = 2
    static let done: UInt16 = 3
    /// `NLMSG_MIN_TYPE`: data messages (a generic netlink family id among them) start here.
    static let firstDataType: UInt16 = 0x10
}
