import Foundation
import MeshCore
import MeshKernel
import MeshTestKit
import Testing

/// Whether the kernel running the tests has WireGuard. Probing resolves the generic netlink
/// family in the test process's namespace, which may load wireguard.ko: harmless in the VM,
/// and a no-op on a kernel without it.
enum KernelWireGuard {
    static let available: Bool = KernelDevices.availability().isAvailable
}

/// The names of the links in a namespace, from `ip -o link show`.
func linkNames(in namespace: TestNamespace) throws -> [String] {
    try namespace.run(["ip", "-o", "link", "show"]).split(separator: "\n").compactMap { line in
        let fields = line.split(separator: ":", maxSplits: 2)
        guard fields.count >= 2 else { return nil }
        return String(fields[1].trimmingCharacters(in: .whitespaces).split(separator: "@").first ?? "")
    }.sorted()
}

/// What any machine can check: names, namespaces, links of other kinds, and (on a kernel
/// without WireGuard, such as the build machines') the "no WireGuard" answers.
@Suite("KernelDevices in a network namespace", .enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
struct KernelDevicesTests {
    @Test(.enabled(if: !KernelWireGuard.available, "this kernel has WireGuard: KernelDevicesVMTests cover it"))
    func withoutTheModuleEnsureSaysSoAndLeavesNoLink() async throws {
        let namespace = try TestNamespace("kwg-none")
        defer { namespace.destroy() }
        let devices = KernelDevices(networkNamespacePath: namespace.path)
        #expect(devices.kind == .kernel)

        let error = try await #require(throws: MeshError.self) { try await devices.ensureDevice(named: "wg0") }
        #expect(error.code == .unsupported)
        #expect(error.message.contains("no WireGuard"), "\(error)")
        #expect(error.errno == 95, "EOPNOTSUPP: no link driver of kind wireguard")
        #expect(try linkNames(in: namespace) == ["lo"], "nothing left behind")

        // Reading and configuring say the same, from the generic netlink side (ENOENT).
        let read = try await #require(throws: MeshError.self) { try await devices.device(named: "wg0") }
        #expect(read.code == .unsupported && read.message.contains("no WireGuard"), "\(read)")
        let apply = try await #require(throws: MeshError.self) { try await devices.apply(DevicePatch(listenPort: 1), to: "wg0") }
        #expect(apply.code == .unsupported, "\(apply)")

        guard case .unavailable(let reason) = KernelDevices.availability(networkNamespacePath: namespace.path) else {
            Issue.record("the probe says WireGuard is available on a kernel that refused to create the link")
            return
        }
        #expect(reason.code == .unsupported && reason.message.contains("no WireGuard"), "\(reason)")
        #expect(!KernelDevices.availability().isAvailable)
    }

    @Test func emptyPatchSendsNothingAndDeletingNothingSucceeds() async throws {
        let namespace = try TestNamespace("kwg-empty")
        defer { namespace.destroy() }
        let devices = KernelDevices(networkNamespacePath: namespace.path)
        // No device, maybe no module: an empty patch still succeeds, because nothing is sent.
        try await devices.apply(DevicePatch(), to: "wg0")
        try await devices.deleteDevice(named: "wg0")
        try await devices.deleteDevice(named: "wg0")
        #expect(try linkNames(in: namespace) == ["lo"])
    }

    @Test func aLinkOfAnotherKindIsNeitherTakenNorDeleted() async throws {
        let namespace = try TestNamespace("kwg-veth")
        defer { namespace.destroy() }
        try namespace.run(["ip", "link", "add", "wg0", "type", "veth", "peer", "name", "wg0p"])
        let devices = KernelDevices(networkNamespacePath: namespace.path)

        // EEXIST comes before the kernel looks for the link kind, with or without WireGuard.
        let ensure = try await #require(throws: MeshError.self) { try await devices.ensureDevice(named: "wg0") }
        #expect(ensure.code == .alreadyExists)
        #expect(ensure.message.contains("veth"), "the error names the other kind: \(ensure)")

        let delete = try await #require(throws: MeshError.self) { try await devices.deleteDevice(named: "wg0") }
        #expect(delete.code == .invalidArgument)
        #expect(try linkNames(in: namespace) == ["lo", "wg0", "wg0p"], "the veth pair is untouched")
    }

    @Test func missingNamespaceIsNotFound() async throws {
        let devices = KernelDevices(networkNamespacePath: "/var/run/netns/meshguard-no-such-namespace")
        let error = try await #require(throws: MeshError.self) { try await devices.ensureDevice(named: "wg0") }
        #expect(error.code == .notFound, "\(error)")
        guard case .unavailable(let reason) = KernelDevices.availability(networkNamespacePath: "/var/run/netns/meshguard-no-such-namespace") else {
            Issue.record("a missing namespace cannot be available")
            return
        }
        #expect(reason.code == .notFound)
    }

    @Test(arguments: ["", "wg0-is-too-long-a-name", "wg/0", "wg 0", "..", "wg:1"])
    func badNamesAreRefusedBeforeAnySocket(_ name: String) async throws {
        // A namespace that does not exist: reaching the socket would say .notFound instead.
        let devices = KernelDevices(networkNamespacePath: "/var/run/netns/meshguard-no-such-namespace")
        for call in 0..<4 {
            let error = try await #require(throws: MeshError.self) {
                switch call {
                case 0: try await devices.ensureDevice(named: name)
                case 1: _ = try await devices.device(named: name)
                case 2: try await devices.apply(DevicePatch(listenPort: 1), to: name)
                default: try await devices.deleteDevice(named: name)
                }
            }
            #expect(error.code == .invalidArgument, "call \(call): \(error)")
        }
    }
}
