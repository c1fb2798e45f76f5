public import MeshCore

/// A WireGuard backend held in memory that applies patches with WireGuard's own semantics
/// (peers by key, a prefix belongs to the last peer that added it, update-only, removal), records
/// every patch, and fails on demand. Implements the same port as the real backends.
public actor FakeWireGuardDevices: WireGuardDevices {
    public enum Operation: Hashable, Sendable { case ensure, read, apply, delete }

    public nonisolated let kind: WireGuardBackendKind
    public private(set) var devices: [String: DeviceState] = [:]
    /// Every non-empty patch applied, in order (empty when made with `keepsHistory: false`).
    public private(set) var appliedPatches: [DevicePatch] = []
    private let keepsHistory: Bool
    public private(set) var calls: [Operation: Int] = [:]
    private var failures: [Operation: [MeshError]] = [:]
    private var persistentFailures: [Operation: MeshError] = [:]

    /// Where the device's network link appears and disappears, as a TUN or kernel link would.
    private let links: FakeRouting?

    /// - Parameter keepsHistory: whether to record every patch in ``appliedPatches``; a
    ///   benchmark with a thousand agents of a thousand peers each turns it off to keep memory
    ///   for the agents.
    public init(kind: WireGuardBackendKind = .userspace, links: FakeRouting? = nil, keepsHistory: Bool = true) {
        self.kind = kind
        self.links = links
        self.keepsHistory = keepsHistory
    }

    /// The next call of `operation` throws `error` (queued: several calls fail in turn).
    public func failNext(_ operation: Operation, with error: MeshError) {
        failures[operation, default: []].append(error)
    }

    /// Every call of `operation` throws `error` until ``clearFailures()``.
    public func failAlways(_ operation: Operation, with error: MeshError) {
        persistentFailures[operation] = error
    }

    public func clearFailures() {
        failures = [:]
        persistentFailures = [:]
    }

    /// Simulates the device vanishing (wireguard-go killed, link deleted by someone else).
    public func vanish(_ name: String) async {
        devices[name] = nil
        try? await links?.deleteLink(named: name)
    }

    /// Sets handshake time and counters for a peer, as traffic would.
    public func recordTraffic(on name: String, peer: PublicKey, handshake: Timestamp, rx: UInt64, tx: UInt64) {
        guard var device = devices[name], let i = device.peers.firstIndex(where: { $0.publicKey == peer }) else { return }
        device.peers[i].lastHandshake = handshake
        device.peers[i].rxBytes = rx
        device.peers[i].txBytes = tx
        devices[name] = device
    }

    private func check(_ operation: Operation) throws(MeshError) {
        calls[operation, default: 0] += 1
        if let error = persistentFailures[operation] { throw error }
        if var queue = failures[operation], !queue.isEmpty {
            let error = queue.removeFirst()
            failures[operation] = queue
            throw error
        }
    }

    @discardableResult
    public func ensureDevice(named name: String) async throws -> Bool {
        try check(.ensure)
        guard devices[name] == nil else { return false }
        devices[name] = DeviceState(name: name, privateKey: nil, listenPort: 0, fwmark: 0, peers: [])
        await links?.addLink(name, mtu: 1420, up: false, kind: kind == .kernel ? "wireguard" : "tun")
        return true
    }

    public func device(named name: String) async throws -> DeviceState? {
        try check(.read)
        return devices[name]
    }

    public func apply(_ patch: DevicePatch, to name: String) async throws {
        try check(.apply)
        guard var device = devices[name] else {
            throw MeshError(.notFound, "no WireGuard device named \(name)")
        }
        guard !patch.isEmpty else { return }
        if keepsHistory { appliedPatches.append(patch) }
        // The core's model of what a device does with a patch: the agent relies on the same
        // function to know its device between read-backs.
        device = device.applying(patch)
        devices[name] = device
    }

    public func deleteDevice(named name: String) async throws {
        try check(.delete)
        if devices.removeValue(forKey: name) != nil { try? await links?.deleteLink(named: name) }
    }
}
