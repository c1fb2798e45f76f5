import MeshCore
import Netlink

/// The `WG_CMD_GET_DEVICE` dump request for the device `interface`: `genlmsghdr` and
/// `WGDEVICE_A_IFNAME`, nothing else (the kernel answers `EBADR` to both or neither of
/// IFNAME and IFINDEX). `NLM_F_REQUEST | NLM_F_DUMP` are set; the socket stamps the sequence.
///
/// The kernel answers `ENODEV` when there is no such interface and `EOPNOTSUPP` when the
/// interface is not WireGuard, as the dump's error (`NLMSG_ERROR`, or `NLMSG_DONE` on older
/// kernels); `NetlinkSocket.dump` throws either.
/// - Throws: `.invalidArgument` for a name the kernel could never accept.
public func encodeGetDevice(interface: String, familyID: UInt16) throws(MeshError) -> [UInt8] {
    try validateInterfaceName(interface)
    do {
        var request = try NetlinkRequest(family: familyID, command: WireGuardGenl.getDevice, version: WireGuardGenl.version,
                                         flags: [.request, .dump])
        try request.put(WGDevice.ifname, string: interface)
        return request.bytes
    } catch {
        // A page always holds a 20-byte header and a 16-byte name.
        preconditionFailure("a WireGuard GET request does not fit a page: \(error)")
    }
}
