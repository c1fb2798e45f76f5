import MeshCore
import Netlink

/// The sockets behind one ``KernelDevices``: an rtnetlink socket for the link and a generic
/// netlink socket for the "wireguard" family, both opened on first use inside the instance's
/// network namespace, and the family id, resolved once per generic socket.
///
/// An actor because a netlink socket matches replies to requests by sequence number, so one
/// request at a time. Its calls block the actor's thread for the kernel round trips, as
/// MeshRouting's `RtnetlinkRouting` does: the kernel applies a WireGuard request inside `sendmsg` and
/// builds each dump part inside `recvmsg`, so the thread does kernel work rather than waiting
/// on another process. (The userspace backend moves its I/O to Dispatch threads because a
/// hung wireguard-go can hold a thread for its whole I/O timeout; the kernel cannot hang so.)
actor KernelSession {
    let networkNamespacePath: String?
    let messageBufferSize: Int
    private var route: NetlinkSocket?
    private var generic: NetlinkSocket?
    /// Only a successful lookup is kept: a kernel without the family now may have it once a
    /// link creation has loaded the module.
    private var familyID: UInt16?

    init(networkNamespacePath: String?, messageBufferSize: Int) {
        self.networkNamespacePath = networkNamespacePath
        self.messageBufferSize = messageBufferSize
    }

    func ensureLink(named name: String) throws(MeshError) -> Bool {
        try openRoute()
        return try createWireGuardLink(named: name, on: &route!)
    }

    func deleteLink(named name: String) throws(MeshError) {
        try openRoute()
        try deleteWireGuardLink(named: name, on: &route!)
    }

    /// The device, or nil when `name` is no WireGuard device: `ENODEV` (no such link) or
    /// `EOPNOTSUPP` (a link of another kind, which ``ensureLink(named:)`` names in its error).
    func readDevice(named name: String) throws(MeshError) -> DeviceState? {
        let operation = "reading WireGuard device \(name)"
        try openGeneric()
        var family = try resolvedFamily()
        var retried = false
        while true {
            let request = try encodeGetDevice(interface: name, familyID: family)
            var messages: [NetlinkMessage]
            do {
                // NetlinkSocket.dump starts the dump over when a part carries NLM_F_DUMP_INTR
                // (a SET ran between two parts) and throws the error in NLMSG_DONE.
                messages = try generic!.dump(request)
            } catch where error.code == .kernelRejected && (error.errno == .noSuchDevice || error.errno == .notSupported) {
                return nil
            } catch {
                if !retried, let fresh = try refreshedFamily(after: error, stale: family) {
                    (family, retried) = (fresh, true)
                    continue
                }
                throw translateKernelError(error, while: operation)
            }
            defer { wipe(&messages) }
            return try decodeGetDevice(messages)
        }
    }

    /// Sends the patch message by message, each acknowledged before the next, and wipes them.
    func apply(_ patch: DevicePatch, to name: String) throws(MeshError) {
        let operation = "configuring WireGuard device \(name)"
        try openGeneric()
        var family = try resolvedFamily()
        var retried = false
        while true {
            var messages = try encodeSetDevice(patch, interface: name, familyID: family, bufferSize: messageBufferSize)
            defer { for i in messages.indices { wipe(&messages[i]) } }
            var sent = 0
            do {
                // By index: the array keeps the only reference to each message, so the wipe
                // above reaches the bytes that were sent, not a copy.
                while sent < messages.count {
                    try generic!.request(messages[sent])
                    sent += 1
                }
                return
            } catch {
                // Retrying is safe only while the kernel has applied nothing.
                if sent == 0, !retried, let fresh = try refreshedFamily(after: error, stale: family) {
                    (family, retried) = (fresh, true)
                    continue
                }
                let place = messages.count == 1 ? operation
                    : "\(operation) (message \(sent + 1) of \(messages.count); \(sent) already applied)"
                if error.code == .kernelRejected && error.errno == .notSupported {
                    // The encoder sends no flag bits the kernel could refuse, so this is the
                    // other EOPNOTSUPP: the link exists but is not WireGuard.
                    throw MeshError(.notFound, "\(place): \(name) is not a WireGuard device", errno: Errno.notSupported.rawValue)
                }
                throw translateKernelError(error, while: place)
            }
        }
    }

    // MARK: sockets

    private func openRoute() throws(MeshError) {
        guard route == nil else { return }
        do {
            route = try NetlinkSocket(bus: .route, networkNamespacePath: networkNamespacePath)
        } catch {
            throw translateKernelError(error, while: "opening an rtnetlink socket" + namespaceSuffix)
        }
    }

    private func openGeneric() throws(MeshError) {
        guard generic == nil else { return }
        do {
            generic = try NetlinkSocket(bus: .generic, networkNamespacePath: networkNamespacePath)
        } catch {
            throw translateKernelError(error, while: "opening a generic netlink socket" + namespaceSuffix)
        }
        familyID = nil
    }

    private var namespaceSuffix: String { networkNamespacePath.map { " in network namespace \($0)" } ?? "" }

    private func resolvedFamily() throws(MeshError) -> UInt16 {
        if let familyID { return familyID }
        let id = try resolveWireGuardFamily(on: &generic!)
        familyID = id
        return id
    }

    /// Family ids are handed out when a family registers, so unloading and loading wireguard.ko
    /// gives it a new one, and a request with the old id gets `ENOENT` ("no such family").
    /// Returns the new id after such an answer, or nil when the error is something else or
    /// the id did not change.
    private func refreshedFamily(after error: NetlinkError, stale: UInt16) throws(MeshError) -> UInt16? {
        guard error.code == .kernelRejected, error.errno == .noSuchFileOrDirectory else { return nil }
        familyID = nil
        let fresh = try resolvedFamily()
        return fresh == stale ? nil : fresh
    }
}
