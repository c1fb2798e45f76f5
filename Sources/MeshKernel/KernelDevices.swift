import MeshCore
import Netlink

/// The kernel backend: WireGuard devices of the Linux kernel module, created through
/// rtnetlink and configured through the generic netlink family "wireguard", as wg(8) does.
///
/// The devices belong to the kernel, not to this object: they outlive the agent, and a new
/// instance (an agent restart) reads and changes the existing device. One rtnetlink and one
/// generic netlink socket per instance, opened on first use inside the network namespace given
/// at init; calls on one instance are serialized (netlink matches replies by sequence number).
/// Every operation needs `CAP_NET_ADMIN` in the namespace's user namespace.
///
/// Errors are ``MeshError``s that name the operation and carry the kernel's errno and its
/// extended-ack text when it sent one: `.unsupported` "this kernel has no WireGuard" when the
/// module is missing, `.notFound` for a missing device or namespace, `.permissionDenied`
/// without the capability, `.backendFailure` for anything else the kernel refuses.
public final class KernelDevices: WireGuardDevices, Sendable {
    public var kind: WireGuardBackendKind { .kernel }
    /// The network namespace the devices live in (e.g. `/var/run/netns/lab-a`); nil for the
    /// caller's.
    public let networkNamespacePath: String?
    private let session: KernelSession

    /// Opens nothing yet: the sockets are opened by the first call, which reports a missing
    /// namespace (`.notFound`) or missing privileges (`.permissionDenied`).
    public convenience init(networkNamespacePath: String? = nil) {
        self.init(networkNamespacePath: networkNamespacePath, messageBufferSize: NetlinkRequest.socketBufferSize)
    }

    /// As ``init(networkNamespacePath:)``, with SET messages of at most `messageBufferSize`
    /// bytes: tests pass small sizes to make the kernel take a configuration in many pieces.
    package init(networkNamespacePath: String?, messageBufferSize: Int) {
        self.networkNamespacePath = networkNamespacePath
        session = KernelSession(networkNamespacePath: networkNamespacePath, messageBufferSize: messageBufferSize)
    }

    /// Creates the WireGuard link `name` unless it exists; returns true when it created it. An
    /// existing WireGuard link is left exactly as it is. The link is not brought up and keeps
    /// the kernel's default MTU: the agent sets both through rtnetlink.
    ///
    /// Creating the link loads wireguard.ko when needed (the kernel requests the module
    /// `rtnl-link-wireguard`), so a refusal with `EOPNOTSUPP` means the kernel has none.
    ///
    /// - Throws: `.unsupported` "this kernel has no WireGuard"; `.alreadyExists` when a link of
    ///   another kind (veth, tun, …) has the name; `.invalidArgument` for a name the kernel
    ///   cannot take; `.permissionDenied`; `.notFound` for a missing namespace.
    @discardableResult
    public func ensureDevice(named name: String) async throws(MeshError) -> Bool {
        try validateInterfaceName(name)
        return try await session.ensureLink(named: name)
    }

    /// Reads the device with a `WG_CMD_GET_DEVICE` dump. Returns nil when there is no link of
    /// that name, and also when the link is not WireGuard (``ensureDevice(named:)`` says which
    /// kind it is). Peers are sorted by public key, their allowed IPs sorted.
    ///
    /// - Throws: `.unsupported` when the kernel has no WireGuard; `.permissionDenied`;
    ///   `.unavailable` when the device kept changing during every attempt to read it;
    ///   `.backendFailure` for a dump that cannot be decoded.
    public func device(named name: String) async throws(MeshError) -> DeviceState? {
        try validateInterfaceName(name)
        return try await session.readDevice(named: name)
    }

    /// Applies `patch` with `WG_CMD_SET_DEVICE` messages split as wg(8) splits them (see
    /// ``encodeSetDevice(_:interface:familyID:bufferSize:)``), each acknowledged before the
    /// next; an empty patch sends nothing. Messages holding the private key are zeroed once sent.
    ///
    /// The messages are not a transaction: when the kernel refuses one, those before it stay
    /// applied (the error says how many). Read the device back and plan again.
    ///
    /// - Throws: `.notFound` when there is no WireGuard device `name` (no link, or a link of
    ///   another kind); `.permissionDenied` (also for a listen port or fwmark change from a
    ///   foreign user namespace); `.backendFailure` with the kernel's errno and message
    ///   otherwise, e.g. `EADDRINUSE` for a taken listen port; `.invalidArgument` for a peer
    ///   that does not fit a message at all.
    public func apply(_ patch: DevicePatch, to name: String) async throws(MeshError) {
        try validateInterfaceName(name)
        guard !patch.isEmpty else { return }
        try await session.apply(patch, to: name)
    }

    /// Deletes the link `name` with `RTM_DELLINK`, which takes its peers, addresses and routes
    /// with it. Not an error when there is no such link. A link of another kind is left alone
    /// and reported (`.invalidArgument`): it is not this backend's to delete.
    public func deleteDevice(named name: String) async throws(MeshError) {
        try validateInterfaceName(name)
        try await session.deleteLink(named: name)
    }
}

extension KernelDevices {
    /// Whether the kernel WireGuard backend can work in a network namespace.
    public enum Availability: Sendable, Equatable {
        /// The generic netlink family "wireguard" is registered.
        case available
        /// Why not. `.unsupported`: this kernel has no WireGuard. Any other code (`.notFound`
        /// for a missing namespace, `.permissionDenied` for one that may not be entered) says
        /// nothing about the kernel.
        case unavailable(MeshError)

        public var isAvailable: Bool { self == .available }
    }

    /// Says whether kernel WireGuard is usable in the namespace at `networkNamespacePath` (nil:
    /// the caller's), by resolving the generic netlink family "wireguard" on a fresh socket.
    /// Nothing else is done: no link is created or touched.
    ///
    /// The lookup itself may load wireguard.ko: the generic netlink controller requests a
    /// module for an unknown family (`net-pf-16-proto-16-family-wireguard`, an alias the module
    /// declares), just as creating a link of kind "wireguard" requests `rtnl-link-wireguard`,
    /// which ``ensureDevice(named:)`` relies on. So `.unavailable` with `.unsupported` means no
    /// module can be loaded at all, and creating a link would fail with `EOPNOTSUPP` too; the
    /// caller should fall back to the userspace backend. (With module loading disabled, e.g.
    /// `modules_disabled`, neither path can load it, and the answer is the same.)
    ///
    /// `.available` does not mean permitted: the lookup needs no privilege, WireGuard's
    /// commands need `CAP_NET_ADMIN`.
    public static func availability(networkNamespacePath: String? = nil) -> Availability {
        var socket: NetlinkSocket
        do {
            socket = try NetlinkSocket(bus: .generic, networkNamespacePath: networkNamespacePath)
        } catch {
            return .unavailable(translateKernelError(error, while: "opening a generic netlink socket"
                + (networkNamespacePath.map { " in network namespace \($0)" } ?? "")))
        }
        do {
            _ = try resolveWireGuardFamily(on: &socket)
            return .available
        } catch {
            return .unavailable(error)
        }
    }
}
