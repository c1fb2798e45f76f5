import MeshCore
import Netlink

// Creating and deleting the WireGuard interface is rtnetlink's business (`ip link add dev NAME
// type wireguard`), not the WireGuard family's. Links are addressed by name on the socket, so
// in the socket's network namespace, never through if_nametoindex(3) in the thread's.

/// What is behind an interface name.
enum LinkLookup: Equatable {
    case missing
    /// `kind` is `IFLA_INFO_KIND` ("wireguard", "veth", …); nil for links without a driver kind
    /// (loopback, most physical NICs).
    case present(kind: String?)
}

/// Creates the WireGuard link `name` unless it exists. Returns true when it created it.
///
/// `RTM_NEWLINK` with `NLM_F_CREATE | NLM_F_EXCL` and kind "wireguard": the kernel loads
/// wireguard.ko on demand (`rtnl-link-wireguard`), so `EOPNOTSUPP` means this kernel has no
/// WireGuard at all. `EEXIST` means the name is taken: by a WireGuard link (fine, nothing to
/// do) or by something else (an error that names the other kind). The link is left down and
/// at its default MTU; the agent sets both through rtnetlink.
///
/// - Throws: `.unsupported` "this kernel has no WireGuard" for `EOPNOTSUPP`; `.alreadyExists`
///   when a link of another kind has the name; `.permissionDenied` without `CAP_NET_ADMIN`.
func createWireGuardLink(named name: String, on socket: inout NetlinkSocket) throws(MeshError) -> Bool {
    let operation = "creating WireGuard link \(name)"
    // Twice at most: a link deleted between the EEXIST and the lookup is created on the second try.
    for _ in 0..<2 {
        do {
            try socket.request(LinkRequest.create(named: name, kind: WireGuardGenl.linkKind))
            return true
        } catch where error.code == .kernelRejected && error.errno == .exists {
            switch try lookUpLink(named: name, on: &socket, while: operation) {
            case .present(kind: WireGuardGenl.linkKind):
                return false
            case .present(let kind):
                throw MeshError(.alreadyExists,
                                "\(operation): a link named \(name) already exists and is \(kind.map { "a \($0) link" } ?? "a link without a driver kind"), not WireGuard",
                                errno: Errno.exists.rawValue)
            case .missing:
                continue
            }
        } catch where error.code == .kernelRejected && error.errno == .notSupported {
            throw MeshError(.unsupported,
                            "this kernel has no WireGuard (\(operation): \(Errno.notSupported)"
                                + (error.kernelMessage.map { "; kernel: \($0)" } ?? "") + ")",
                            errno: Errno.notSupported.rawValue)
        } catch {
            throw translateKernelError(error, while: operation)
        }
    }
    throw MeshError(.unavailable, "\(operation): the name \(name) appeared and vanished twice while it was being created")
}

/// Deletes the WireGuard link `name`. A missing link is not an error; a link of another kind
/// is refused and left alone, because it is not ours to delete.
///
/// - Throws: `.invalidArgument` when `name` is a link of another kind; `.permissionDenied`
///   without `CAP_NET_ADMIN`.
func deleteWireGuardLink(named name: String, on socket: inout NetlinkSocket) throws(MeshError) {
    let operation = "deleting WireGuard link \(name)"
    switch try lookUpLink(named: name, on: &socket, while: operation) {
    case .missing:
        return
    case .present(kind: WireGuardGenl.linkKind):
        break
    case .present(let kind):
        throw MeshError(.invalidArgument,
                        "\(operation): \(name) is \(kind.map { "a \($0) link" } ?? "a link without a driver kind"), not WireGuard; left alone")
    }
    do {
        try socket.request(LinkRequest.delete(named: name))
    } catch where error.code == .kernelRejected && error.errno == .noSuchDevice {
        return  // deleted by someone else in between: the outcome asked for
    } catch {
        throw translateKernelError(error, while: operation)
    }
}

/// The link named `name` on the socket's namespace, by `RTM_GETLINK` (`ENODEV`: missing).
func lookUpLink(named name: String, on socket: inout NetlinkSocket, while operation: String) throws(MeshError) -> LinkLookup {
    do {
        let replies = try socket.request(LinkRequest.get(named: name))
        guard let reply = replies.first else { return .missing }
        return .present(kind: try LinkMessage(parsing: reply).kind)
    } catch where error.code == .kernelRejected && error.errno == .noSuchDevice {
        return .missing
    } catch {
        throw translateKernelError(error, while: operation)
    }
}
