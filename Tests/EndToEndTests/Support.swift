import Dispatch
import Foundation
import MeshCore
import MeshLab
import MeshTestKit
import Testing

/// The `meshguard` binary `swift build` put next to the test runner (`MESHGUARD_BINARY`
/// overrides). The end-to-end tests run it exactly as an operator would.
func meshguardBinary() throws -> String {
    if let override = ProcessInfo.processInfo.environment["MESHGUARD_BINARY"] { return override }
    var directory = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    for _ in 0..<4 {
        let candidate = directory.appendingPathComponent("meshguard").path
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        directory = directory.deletingLastPathComponent()
    }
    throw MeshError(.notFound, "meshguard binary not found next to the test runner; run `swift build` first or set MESHGUARD_BINARY")
}

/// The WireGuard backend the suite runs the agents with: `MESHGUARD_TEST_BACKEND` (`kernel` in
/// the QEMU VM, whose kernel has the module), `userspace` (wireguard-go) otherwise.
let testBackend: WireGuardBackendKind =
    ProcessInfo.processInfo.environment["MESHGUARD_TEST_BACKEND"].flatMap(WireGuardBackendKind.init(rawValue:)) ?? .userspace

/// Whether this kernel has WireGuard, loaded or loadable.
let kernelHasWireGuard = FileManager.default.fileExists(atPath: "/sys/module/wireguard")
    || (try? TestNamespace.run(["modprobe", "-n", "wireguard"])) != nil

/// Whether the end-to-end suite can run here: root (namespaces), the tools the lab drives, and
/// the backend (wireguard-go for userspace; the module for kernel).
let canRunEndToEnd = TestNamespace.isRoot && TestNamespace.commandExists("tcpdump") && TestNamespace.commandExists("ping")
    && (testBackend == .kernel ? FileManager.default.fileExists(atPath: "/sys/module/wireguard")
                               : TestNamespace.commandExists("wireguard-go"))

/// Runs blocking lab calls off Swift's cooperative pool (it has as many threads as cores; a
/// blocked one would stall every other test in the process). A serial queue per call targets
/// Dispatch's overcommit pool, which starts a thread when none is idle; the global queue would
/// keep about one per core and queue long calls behind each other.
func offload<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue(label: "meshguard.e2e.offload").async {
            continuation.resume(with: Result { try body() })
        }
    }
}

/// Builds a lab of `nodes` nodes with Meshguard's controller and agents running, accepted, and
/// (unless `enable` is false) encryption on; runs `body`; always tears down. On failure the
/// processes' logs are attached to the test output.
func withCluster(nodes: Int = 3, enable: Bool = true, startAgents: Bool = true, configure: (inout MeshClusterOptions) -> Void = { _ in },
                 _ body: (MeshCluster) async throws -> Void) async throws {
    var options = MeshClusterOptions(binary: try meshguardBinary())
    options.logLevel = "info"
    options.wireGuardBackend = testBackend.rawValue
    configure(&options)
    let spec = LabSpec(id: LabSpec.uniqueID(prefix: "mge"), nodeCount: nodes, podsPerNode: 2)
    let lab = try await offload { try Lab.create(spec) }
    let cluster = MeshCluster(lab: lab, options: options)
    defer {
        cluster.stopDatastore()
        lab.destroy()
    }
    do {
        try await offload { try cluster.startDatastore() }
        if startAgents {
            try cluster.startController()
            for node in lab.nodes { try cluster.startAgent(node) }
            try await offload { try cluster.waitForAcceptance() }
            if enable {
                let result = try await offload { try cluster.cli(["enable"] + cluster.waitFlags) }
                #expect(result.succeeded, "meshguard enable --wait: \(result)")
            }
        }
        try await body(cluster)
    } catch {
        print("── logs of lab \(spec.id) ──\n\(cluster.logs(lines: 60))")
        throw error
    }
}

extension MeshCluster {
    /// `ip route show table 51830` inside a node.
    func tableRoutes(_ node: LabNode) throws -> String {
        try lab.run(in: node, ["ip", "route", "show", "table", "51830"]).checked().stdout
    }

    func rules(_ node: LabNode) throws -> String {
        try lab.run(in: node, ["ip", "rule", "show"]).checked().stdout
    }

    /// The WireGuard device of `node` disappears as it would in production: wireguard-go is
    /// killed (userspace), or the link is deleted by someone (kernel). Returns a token that
    /// tells a replacement apart from the original.
    func destroyDevice(on node: LabNode) throws -> String {
        switch testBackend {
        case .userspace:
            let pid = try #require(wireGuardGoPID(on: node))
            kill(pid, SIGKILL)
            return "wireguard-go \(pid)"
        case .kernel:
            let index = try lab.run(in: node, ["cat", "/sys/class/net/meshguard0/ifindex"]).checked().stdout
            try lab.run(in: node, ["ip", "link", "del", "meshguard0"]).checked()
            return "ifindex \(index.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }

    /// The current device's token (see ``destroyDevice(on:)``), or nil when there is none.
    func deviceToken(on node: LabNode) -> String? {
        switch testBackend {
        case .userspace:
            return wireGuardGoPID(on: node).map { "wireguard-go \($0)" }
        case .kernel:
            guard let result = try? lab.run(in: node, ["cat", "/sys/class/net/meshguard0/ifindex"]), result.succeeded else { return nil }
            return "ifindex \(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines))"
        }
    }
}

/// Failed pairs of ``Lab/pingAll(count:interval:among:)`` as `n1-p1→n2-p2: <ping result>`, for messages.
func describe(_ failures: [(LabPod, LabPod, PingResult)]) -> String {
    failures.map { "\($0.0.name)→\($0.1.name): \($0.2)" }.joined(separator: "; ")
}
