import Foundation
import Glibc
import MeshCore
@testable import MeshLab
import Testing

@Suite struct LabSpecTests {
    @Test(arguments: ["", "A", "1abc", "a-b", "a_b", "abcdefghijklm", "ab/c", "é"])
    func rejectsBadIDs(id: String) {
        #expect(throws: MeshError.self) { try LabSpec(id: id).validate() }
    }

    @Test(arguments: ["a", "mg123456", "abcdefghijkl"])
    func acceptsGoodIDs(id: String) throws {
        try LabSpec(id: id).validate()
    }

    @Test func rejectsSizesOutOfRange() throws {
        #expect(throws: MeshError.self) { try LabSpec(id: "a", nodeCount: 0).validate() }
        #expect(throws: MeshError.self) { try LabSpec(id: "a", nodeCount: 245).validate() }
        #expect(throws: MeshError.self) { try LabSpec(id: "a", podsPerNode: -1).validate() }
        #expect(throws: MeshError.self) { try LabSpec(id: "a", podsPerNode: 254).validate() }
        #expect(throws: MeshError.self) { try LabSpec(id: "a", podCIDRBase: try IPPrefix("10.0.0.0/8")).validate() }
        #expect(throws: MeshError.self) { try LabSpec(id: "a", podCIDRBase: try IPPrefix("fd00::/16")).validate() }
        try LabSpec(id: "a", nodeCount: 244, podsPerNode: 253).validate()
        try LabSpec(id: "a", podsPerNode: 0).validate()
    }

    @Test func uniqueIDsAreValidAndDiffer() throws {
        let ids = (0..<50).map { _ in LabSpec.uniqueID() }
        for id in ids { try LabSpec(id: id).validate() }
        #expect(Set(ids).count == ids.count)
        #expect(LabSpec.uniqueID(prefix: "t").hasPrefix("t"))
    }

    @Test func derivesNamesAndAddresses() throws {
        let spec = LabSpec(id: "x", nodeCount: 3, podsPerNode: 2, underlayThirdOctet: 9,
                           podCIDRBase: try IPPrefix("10.50.0.0/16"))
        #expect(spec.fabricNamespace == "x-fab")
        #expect(spec.nodeNamespace(2) == "x-n2")
        #expect(spec.podNamespace(node: 3, pod: 1) == "x-n3-p1")
        #expect(spec.fabricAddress == (try IPAddress("192.168.9.1")))
        #expect(spec.nodeAddress(3) == (try IPAddress("192.168.9.13")))
        #expect(spec.podCIDR(3) == (try IPPrefix("10.50.3.0/24")))
        #expect(spec.gatewayAddress(3) == (try IPAddress("10.50.3.1")))
        #expect(spec.podAddress(node: 3, pod: 2) == (try IPAddress("10.50.3.3")))
        #expect(spec.allNamespaceNames == ["x-fab", "x-n1", "x-n1-p1", "x-n1-p2", "x-n2", "x-n2-p1", "x-n2-p2",
                                           "x-n3", "x-n3-p1", "x-n3-p2"])
        #expect(LabSpec(id: "y", nodeCount: 2, podsPerNode: 0).allNamespaceNames == ["y-fab", "y-n1", "y-n2"])
    }

    @Test func recognisesOnlyItsOwnNamespaces() {
        for name in ["x-fab", "x-n1", "x-n12", "x-n1-p1", "x-n3-p20"] {
            #expect(Lab.isLabNamespace(name, id: "x"), "\(name)")
        }
        for name in ["x-fabric", "x-n", "x-n1a", "x-n1-p", "x-n-p1", "x-n1-p1-p2", "xy-n1", "y-n1", "x", "x-", "x-p1"] {
            #expect(!Lab.isLabNamespace(name, id: "x"), "\(name)")
        }
    }

    @Test func destroyLeftoversRefusesAnInvalidID() {
        let problems = Lab.destroyLeftovers(id: "../x")
        #expect(problems.count == 1)
        #expect(problems.first?.contains("lab id") == true)
    }
}

@Suite struct CommandTests {
    @Test func missingToolsNameTheirPackages() {
        do {
            _ = try ToolPaths.locate(searchPath: ["/nonexistent"])
            Issue.record("found tools in /nonexistent")
        } catch {
            #expect(error.code == .unsupported)
            #expect(error.message.contains("ip, tcpdump, nsenter, unshare, ping, sh, mount, umount"))
            #expect(error.message.contains("apt-get install -y dash iproute2 iputils-ping mount tcpdump util-linux"))
        }
    }

    @Test func oneMissingToolIsNamedAlone() throws {
        // A directory with links to every tool but ping.
        let dir = NSTemporaryDirectory() + "meshlab-tools-\(getpid())"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        for tool in Tool.all where tool != .ping {
            guard let path = ToolPaths.find(tool.name, in: ToolPaths.defaultSearchPath) else { continue }
            try FileManager.default.createSymbolicLink(atPath: "\(dir)/\(tool.name)", withDestinationPath: path)
        }
        do {
            _ = try ToolPaths.locate(searchPath: [dir])
            Issue.record("found ping in \(dir)")
        } catch {
            #expect(error.message.hasPrefix("the network lab needs ping, which is not installed"))
            #expect(error.message.hasSuffix("apt-get install -y iputils-ping"))
        }
    }

    @Test func notRootIsAClearError() {
        #expect(throws: MeshError.self) { try requireRoot(effectiveUID: 1000) }
        do { try requireRoot(effectiveUID: 1000) } catch {
            #expect(error.code == .permissionDenied)
            #expect(error.message.hasPrefix("meshguard demo needs root: network namespaces"))
        }
        #expect(throws: Never.self) { try requireRoot(effectiveUID: 0) }
    }

    @Test func runCollectsOutputAndStatus() throws {
        let result = try Subprocess.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], timeout: .seconds(10))
        #expect(result.status == .exited(3))
        #expect(result.stdout == "out\n")
        #expect(result.stderr == "err\n")
        #expect(throws: MeshError.self) { try result.checked() }
        let killed = try Subprocess.run(["/bin/sh", "-c", "kill -TERM $$"], timeout: .seconds(10))
        #expect(killed.status == .signalled(SIGTERM))
    }

    @Test func runReadsMoreThanAPipeHolds() throws {
        let result = try Subprocess.run(["/bin/sh", "-c", "head -c 300000 /dev/zero | tr '\\0' x"], timeout: .seconds(10))
        #expect(result.stdout.utf8.count == 300_000)
    }

    @Test func runKillsTheGroupOnTimeout() throws {
        let start = ContinuousClock.now
        do {
            _ = try Subprocess.run(["/bin/sh", "-c", "sleep 20; echo never"], timeout: .milliseconds(300))
            Issue.record("no timeout")
        } catch {
            #expect(error.code == .timeout)
        }
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test func runReturnsWhenADaemonKeepsThePipes() throws {
        let start = ContinuousClock.now
        let result = try Subprocess.run(["/bin/sh", "-c", "sleep 20 & echo $!"], timeout: .seconds(10))
        let daemon = try #require(pid_t(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        defer { kill(daemon, SIGKILL) }
        #expect(ContinuousClock.now - start < .seconds(5))
        #expect(result.succeeded)
    }

    @Test func spawnedChildrenLeadTheirOwnProcessGroup() throws {
        let pid = try Subprocess.spawn(["/bin/sleep", "20"], output: .logFile("/dev/null"))
        defer {
            kill(pid, SIGKILL)
            _ = Subprocess.reap(pid, block: true)
        }
        #expect(getpgid(pid) == pid)
    }

    @Test func parsesPingSummaries() throws {
        func result(_ out: String, _ status: Termination) -> CommandResult {
            CommandResult(arguments: ["ping"], status: status, stdout: out, stderr: "")
        }
        let ok = try Lab.parsePing(result("""
            PING 10.244.2.2 (10.244.2.2) 56(84) bytes of data.

            --- 10.244.2.2 ping statistics ---
            3 packets transmitted, 3 received, 0% packet loss, time 102ms
            rtt min/avg/max/mdev = 0.040/0.051/0.070/0.013 ms
            """, .exited(0)))
        #expect((ok.transmitted, ok.received, ok.loss) == (3, 3, 0))
        let lossy = try Lab.parsePing(result("4 packets transmitted, 1 received, +3 errors, 75% packet loss, time 3ms\n", .exited(1)))
        #expect((lossy.transmitted, lossy.received, lossy.loss) == (4, 1, 0.75))
        let unreachable = try Lab.parsePing(result("ping: connect: Network is unreachable\n", .exited(2)))
        #expect((unreachable.transmitted, unreachable.loss) == (0, 1))
        #expect(throws: MeshError.self) { try Lab.parsePing(result("garbage", .exited(0))) }
    }

    @Test func readsTcpdumpDropCount() {
        let log = "listening on br0, link-type EN10MB (Ethernet)\n12 packets captured\n12 packets received by filter\n3 packets dropped by kernel\n"
        #expect(Capture.droppedByKernel(log) == 3)
        #expect(Capture.droppedByKernel("nothing") == nil)
    }
}

@Suite struct DescriptorTests {
    @Test func childrenInheritNoDescriptorsBeyondTheStandardThree() throws {
        // Opened without O_CLOEXEC, as code elsewhere in a process might.
        let leak = open("/dev/null", O_RDONLY)
        try #require(leak >= 3)
        defer { close(leak) }
        let result = try Subprocess.run(["/bin/sh", "-c", "ls /proc/$$/fd"], timeout: .seconds(10)).checked()
        let fds = result.stdout.split(separator: "\n").compactMap { Int32($0) }
        #expect(!fds.contains(leak), "\(fds)")
        #expect(Set([0, 1, 2]).isSubset(of: Set(fds)))
    }
}
