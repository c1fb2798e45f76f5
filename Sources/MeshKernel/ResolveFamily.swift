import MeshCore
import Netlink

/// Resolves the "wireguard" generic netlink family on `socket` (a `.generic` socket) and
/// returns its id, the `nlmsg_type` of every WireGuard request.
///
/// Asking may load the module: on kernels with modules, the controller calls
/// `request_module("net-pf-16-proto-16-family-wireguard")` before answering, and
/// wireguard.ko declares that alias. An answer of "no such family" therefore means that this
/// kernel has no WireGuard at all (not built in, not installed, or module loading is
/// disabled), not merely that nobody has loaded it yet.
///
/// - Throws: `.unsupported` "this kernel has no WireGuard" for `ENOENT`; otherwise the
///   translated netlink failure (`.permissionDenied`, `.timeout`, …).
func resolveWireGuardFamily(on socket: inout NetlinkSocket) throws(MeshError) -> UInt16 {
    do {
        return try socket.genericFamily(named: WireGuardGenl.familyName).id
    } catch where error.code == .kernelRejected && error.errno == .noSuchFileOrDirectory {
        // wg(8) reports the same answer as EPROTONOSUPPORT; the errno kept here is the kernel's.
        throw MeshError(.unsupported,
                        "this kernel has no WireGuard (the generic netlink family \"wireguard\" is not registered and no module provides it)",
                        errno: Errno.noSuchFileOrDirectory.rawValue)
    } catch {
        throw translateKernelError(error, while: "looking up the generic netlink family \"wireguard\"")
    }
}
