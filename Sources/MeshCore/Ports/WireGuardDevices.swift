/// Which implementation carries the data plane.
public enum WireGuardBackendKind: String, Sendable, Codable, CaseIterable {
    /// The Linux kernel module, driven over generic netlink.
    case kernel
    /// wireguard-go, driven over its UAPI socket.
    case userspace
}

/// The device port: create, read and change WireGuard devices. Implemented by the kernel
/// (generic netlink) and userspace (wireguard-go UAPI) backends and by the test kit's fake.
///
/// Errors are ``MeshError``s. A missing device is not an error for ``device(named:)`` (nil) or
/// ``deleteDevice(named:)`` (no-op); ``apply(_:to:)`` on a missing device throws `.notFound`.
/// `.unsupported` means this machine cannot run the backend at all.
public protocol WireGuardDevices: Sendable {
    var kind: WireGuardBackendKind { get }

    /// Makes sure the device exists: creates the link, or starts wireguard-go for it. Returns
    /// true when it had to create it. An existing device is left exactly as it is.
    @discardableResult
    func ensureDevice(named name: String) async throws -> Bool

    /// Reads the device back, or nil when there is none.
    func device(named name: String) async throws -> DeviceState?

    /// Applies `patch`. An empty patch sends nothing.
    func apply(_ patch: DevicePatch, to name: String) async throws

    /// Removes the device. Not an error if it does not exist.
    func deleteDevice(named name: String) async throws
}
