import Foundation

/// A network namespace of the benchmark's own, with loopback up and, when asked, an underlay:
/// a veth pair inside it whose first end carries `underlay` (e.g. `192.168.77.11/24`).
///
/// Removing it stops every process still running in it (wireguard-go daemons, an agent) first,
/// so that the namespace and its TUN devices really go, then removes the UAPI sockets of the
/// given devices if their daemons left them behind. /var/run/wireguard is shared by every
/// namespace on the host, so device names must be unique host-wide.
struct BenchNamespace: Sendable {
    let name: String
    /// WireGuard devices created in it, whose sockets in /var/run/wireguard are ours to remove.
    let devices: [String]

    /// Creates the namespace and registers its removal with ``Cleanup``.
    static func create(name: String, devices: [String], underlay: String? = nil) throws -> (BenchNamespace, Cleanup.Token) {
        try runCommand(["ip", "netns", "add", name])
        let namespace = BenchNamespace(name: name, devices: devices)
        let token = Cleanup.shared.register { namespace.remove() }
        do {
            try runCommand(["ip", "-n", name, "link", "set", "lo", "up"])
            if let underlay {
                try runCommand(["ip", "-n", name, "link", "add", "mgbu0", "type", "veth", "peer", "name", "mgbu1"])
                try runCommand(["ip", "-n", name, "addr", "add", underlay, "dev", "mgbu0"])
                try runCommand(["ip", "-n", name, "link", "set", "mgbu0", "up"])
                try runCommand(["ip", "-n", name, "link", "set", "mgbu1", "up"])
            }
        } catch {
            Cleanup.shared.perform(token)
            throw error
        }
        return (namespace, token)
    }

    /// `ip netns exec NAME` followed by `arguments`.
    func exec(_ arguments: [String]) -> [String] { ["ip", "netns", "exec", name] + arguments }

    /// Pids of the processes in the namespace.
    func pids() -> [pid_t] {
        guard let (status, text) = try? runCapturing(["ip", "netns", "pids", name]), status == 0 else { return [] }
        return text.split(separator: "\n").compactMap { pid_t($0.trimmingCharacters(in: .whitespaces)) }
    }

    /// Stops what runs in the namespace (SIGTERM, then SIGKILL after 5 s), removes leftover
    /// sockets of our devices and deletes the namespace. Never throws: it is the cleanup.
    func remove() {
        var running = pids()
        for pid in running { kill(pid, SIGTERM) }
        let deadline = Date().addingTimeInterval(5)
        while !running.isEmpty && Date() < deadline {
            Thread.sleep(forTimeInterval: 0.05)
            running = pids()
        }
        for pid in running { kill(pid, SIGKILL) }
        while !pids().isEmpty && Date() < deadline.addingTimeInterval(5) { Thread.sleep(forTimeInterval: 0.05) }
        for device in devices {
            let socket = "/var/run/wireguard/\(device).sock"
            if FileManager.default.fileExists(atPath: socket) { try? FileManager.default.removeItem(atPath: socket) }
        }
        if let (status, text) = try? runCapturing(["ip", "netns", "del", name]), status != 0 {
            FileHandle.standardError.write(Data("meshguard-bench: could not delete namespace \(name): \(text)".utf8))
        }
    }
}
