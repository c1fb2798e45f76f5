import Foundation
import MeshCore
import MeshCrypto
import MeshTestKit
@testable import MeshUserspace
import Synchronization

/// One network namespace with a backend that starts wireguard-go inside it. Every device it
/// names is deleted at the end, and so is the namespace: deleting a namespace alone would not
/// stop wireguard-go, whose sockets keep the namespace alive.
final class Lab: Sendable {
    let namespace: TestNamespace
    let devices: UserspaceDevices
    private let created = Mutex<[String]>([])

    init(_ prefix: String) throws {
        namespace = try TestNamespace(prefix)
        devices = UserspaceDevices(configuration: Self.configuration(for: namespace))
    }

    static func configuration(for namespace: TestNamespace) -> UserspaceDevices.Configuration {
        .init(startupTimeout: .seconds(15), launcherPrefix: ["ip", "netns", "exec", namespace.name])
    }

    /// A device name unique on this host: the socket directory is shared by every namespace.
    func newDeviceName() -> String {
        let name = "mgu\(getpid())x\(Self.counter.add(1, ordering: .relaxed).newValue)"
        created.withLock { $0.append(name) }
        return name
    }

    func socketPath(_ name: String) -> String { devices.socketPath(for: name) }

    func daemonPID(_ name: String) -> pid_t? { WireGuardGoProcess.daemonPID(socketPath: socketPath(name)) }

    func linkExists(_ name: String) -> Bool { (try? namespace.run(["ip", "link", "show", "dev", name])) != nil }

    func cleanUp() async {
        for name in created.withLock({ $0 }) {
            let pid = daemonPID(name)
            do { try await devices.deleteDevice(named: name) } catch {
                if let pid { kill(pid, SIGKILL) }
                unlink(socketPath(name))
            }
        }
        namespace.destroy()
    }

    private static let counter = Atomic<Int>(0)
}

/// Runs `body` with fresh labs, cleaning up whether it returns or throws.
func withLabs(_ prefixes: [String], _ body: ([Lab]) async throws -> Void) async throws {
    var labs: [Lab] = []
    do {
        for prefix in prefixes { labs.append(try Lab(prefix)) }
        try await body(labs)
    } catch {
        for lab in labs { await lab.cleanUp() }
        throw error
    }
    for lab in labs { await lab.cleanUp() }
}

func withLab(_ prefix: String, _ body: (Lab) async throws -> Void) async throws {
    try await withLabs([prefix]) { try await body($0[0]) }
}

/// Waits until `condition` holds, up to `timeout`.
func eventually(_ timeout: Duration = .seconds(5), _ condition: () -> Bool) async -> Bool {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if condition() { return true }
        try? await Task.sleep(for: .milliseconds(20))
    }
    return condition()
}

func fileExists(_ path: String) -> Bool {
    var info = stat()
    return lstat(path, &info) == 0
}

/// A desired configuration with `count` (at most 32,768) peers whose keys are real (derived)
/// public keys, each with two IPv4 /24s and an IPv6 /64 of its own.
func sampleConfig(peers count: Int, listenPort: UInt16 = 51820, fwmark: UInt32 = 0x1234) -> DeviceConfig {
    let endpoints = ["192.0.2.10:51820", "[2001:db8::10]:51821", "198.51.100.7:4500"]
    let peers = (0..<count).map { i in
        PeerConfig(publicKey: KeyGeneration.publicKey(for: KeyGeneration.generatePrivateKey()),
                   endpoint: i % 4 == 3 ? nil : try! Endpoint(endpoints[i % endpoints.count]),
                   allowedIPs: [try! IPPrefix("10.\(i / 128).\(i % 128 * 2).0/24"),
                                try! IPPrefix("10.\(i / 128).\(i % 128 * 2 + 1).0/24"),
                                try! IPPrefix("fd00:\(String(i + 1, radix: 16))::/64")],
                   persistentKeepalive: i == 0 ? 25 : 0)
    }
    return DeviceConfig(privateKey: KeyGeneration.generatePrivateKey(), listenPort: listenPort, fwmark: fwmark, peers: peers)
}

/// The parts of a read-back device that a configuration determines, with allowed IPs sorted
/// (wireguard-go reports them in its trie's order, not in the order they were added).
struct Configured: Equatable, CustomStringConvertible {
    var listenPort: UInt16
    var fwmark: UInt32
    var peers: [PeerConfig]

    init(_ config: DeviceConfig) {
        listenPort = config.listenPort
        fwmark = config.fwmark
        peers = config.peers
    }

    init(_ state: DeviceState) {
        listenPort = state.listenPort
        fwmark = state.fwmark
        peers = state.peers.map {
            PeerConfig(publicKey: $0.publicKey, endpoint: $0.endpoint, allowedIPs: $0.allowedIPs,
                       persistentKeepalive: $0.persistentKeepalive)
        }.sorted { $0.publicKey < $1.publicKey }
    }

    var description: String {
        "port \(listenPort) fwmark \(fwmark) peers " + peers.map {
            "\($0.publicKey.fingerprint) \($0.endpoint.map(String.init(describing:)) ?? "-") \($0.allowedIPs) ka \($0.persistentKeepalive)"
        }.joined(separator: "; ")
    }
}
