import Foundation
import Glibc
import MeshCore
@testable import MeshLab
import MeshTestKit
import Testing

/// Teardown, partial builds, leftovers and parallel labs. Part of the serialized ``LabTests``.
extension LabTests {
    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func destroyRemovesNamespacesProcessesMountsAndFiles() throws {
        let lab = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 1))
        var destroyed = false
        defer { if !destroyed { lab.destroy() } }
        let id = lab.spec.id
        #expect(Leftovers.of(id: id).count > 0, "the check itself sees a live lab")

        let tracked = try lab.spawn(in: lab.nodes[0], ["sleep", "300"])
        let inPod = try lab.spawn(in: lab.pods[1], ["sleep", "300"])
        // A process that leaves its group and session: only the namespace scan can find it.
        let detached = try lab.run(in: lab.nodes[1], ["sh", "-c", "setsid sleep 300 >/dev/null 2>&1 & echo $!"]).checked()
        let detachedPID = try #require(pid_t(detached.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let capture = try lab.startCapture()
        #expect(Leftovers.isAlive(detachedPID))
        let mountInode = try #require(NodeMounts.inode(ofFile: lab.nodes[0].namespace.mountNamespacePath!))

        #expect(lab.destroy() == [])
        destroyed = true
        let deadline = ContinuousClock.now + .seconds(5)
        while Leftovers.isAlive(detachedPID) && ContinuousClock.now < deadline { usleep(20_000) }
        #expect(Leftovers.of(id: id, pids: [tracked.pid, inPod.pid, detachedPID, capture.process.pid]) == [])
        #expect(!tracked.isRunning && !inPod.isRunning && !capture.process.isRunning)
        #expect(ProcessScan.pids(inNamespaces: [mountInode]).isEmpty)
        // Idempotent, and the lab refuses work afterwards.
        #expect(lab.destroy() == [])
        #expect(throws: MeshError(.unavailable, "lab \(id) was destroyed")) { try lab.run(in: lab.fabric, ["true"]) }
        #expect(throws: MeshError.self) { try lab.spawn(in: lab.fabric, ["true"]) }
        #expect(throws: MeshError.self) { try capture.stop() }
    }

    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"),
          arguments: ["claim", "namespaces", "fabric", "node n1", "node n2", "routes", "mounts"])
    func aFailedCreateRemovesWhatItBuilt(failingStep: String) throws {
        let id = testID()
        var steps: [String] = []
        do {
            _ = try Lab.create(LabSpec(id: id, nodeCount: 2, podsPerNode: 1)) { (step: String) throws(MeshError) in
                steps.append(step)
                if step == failingStep { throw MeshError(.internalError, "injected failure after \(step)") }
            }
            Issue.record("create succeeded despite the failure")
        } catch {
            #expect(error.message == "injected failure after \(failingStep)")
        }
        #expect(steps.last == failingStep)
        #expect(Leftovers.of(id: id) == [])
    }

    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func withLabDestroysWhenTheBodyThrows() async throws {
        struct Boom: Error {}
        let id = testID()
        var pid: pid_t = 0
        await #expect(throws: Boom.self) {
            try await Lab.withLab(LabSpec(id: id, nodeCount: 1, podsPerNode: 1)) { lab in
                pid = try lab.spawn(in: lab.nodes[0], ["sleep", "300"]).pid
                #expect(try lab.ping(from: lab.pods[0], to: lab.nodes[0].gatewayAddress, count: 1).received == 1)
                throw Boom()
            }
        }
        #expect(pid > 0)
        #expect(Leftovers.of(id: id, pids: [pid]) == [])
        // And returns the body's value when it does not throw.
        let nodes = try await Lab.withLab(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 0)) { $0.nodes.count }
        #expect(nodes == 2)
    }

    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func leftoversOfACrashedRunAreRemoved() throws {
        let lab = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 1))
        defer { lab.destroy() }
        let id = lab.spec.id
        let sleeper = try lab.spawn(in: lab.nodes[1], ["sleep", "300"])
        _ = try lab.startCapture()
        // As if this process had died: only the id is known.
        #expect(Lab.destroyLeftovers(id: id) == [])
        #expect(Leftovers.of(id: id, pids: [sleeper.pid]) == [])
        #expect(Lab.destroyLeftovers(id: id) == [], "nothing left is not a problem")
        // The orphaned Lab object's own teardown finds nothing to do and reports nothing.
        #expect(lab.destroy() == [])
        #expect(sleeper.termination == .signalled(SIGKILL))
    }

    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func anIDInUseIsRefusedWithoutHarmingItsLab() throws {
        let lab = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 1))
        defer { lab.destroy() }
        do {
            _ = try Lab.create(LabSpec(id: lab.spec.id, nodeCount: 2, podsPerNode: 1))
            Issue.record("a second lab with the same id was created")
        } catch {
            #expect(error.code == .alreadyExists)
            #expect(error.message.contains("destroyLeftovers"))
        }
        #expect(try lab.ping(from: lab.pods[0], to: lab.pods[1].address, count: 2).received == 2)
        #expect(try lab.run(in: lab.nodes[0], ["test", "-d", "/var/run/wireguard"]).succeeded)
    }

    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func twoLabsLiveSideBySideWithTheSameAddresses() throws {
        let first = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 1))
        defer { first.destroy() }
        let second = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 1))
        defer { second.destroy() }
        #expect(first.pods.map(\.address) == second.pods.map(\.address))

        let capture = try first.startCapture()
        for lab in [first, second] {
            #expect(try lab.ping(from: lab.pods[0], to: lab.pods[1].address, count: 3).received == 3)
        }
        let marker = Array("MESHLAB-SECOND-\(second.spec.id)".utf8)
        #expect(try second.tcpTransfer(from: second.pods[0], to: second.pods[1], port: 7000, payload: marker) == marker)
        let report = WireReport(try capture.stop())
        // The first lab's fabric saw its own 3 pings and replies, and nothing of the second's.
        #expect(report.ipv4ByProtocol[.icmp] == 6, "\(report)")
        #expect(!report.contains(marker: marker))

        // Per-node state is separate too.
        try first.run(in: first.nodes[0], ["sh", "-c", "echo first > /var/run/wireguard/which"]).checked()
        #expect(try second.run(in: second.nodes[0], ["cat", "/var/run/wireguard/which"]).status != .exited(0))
        #expect(first.destroy() == [])
        #expect(try second.ping(from: second.pods[0], to: second.pods[1].address, count: 1).received == 1)
    }
}
