import Foundation
import Glibc
import MeshCore
@testable import MeshLab
import MeshTestKit
import Testing

/// Real labs: namespaces, bridges, mounts, captures. Serialized, because the machine has few
/// cores and each test builds several namespaces.
@Suite(.serialized) struct LabTests {
    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func threeNodeClusterCarriesPlainTextBeforeEncryption() throws {
        let rootSysctls = ["/proc/sys/net/ipv6/conf/default/disable_ipv6", "/proc/sys/net/ipv4/ip_forward"]
            .map { try? String(contentsOfFile: $0, encoding: .utf8) }
        let started = ContinuousClock.now
        let lab = try Lab.create(LabSpec(id: testID()))
        let created = ContinuousClock.now
        var destroyed = false
        defer { if !destroyed { lab.destroy() } }

        #expect(lab.nodes.map(\.name) == ["n1", "n2", "n3"])
        #expect(lab.pods.map(\.name) == ["n1-p1", "n1-p2", "n2-p1", "n2-p2", "n3-p1", "n3-p2"])
        let (n1, n2) = (lab.nodes[0], lab.nodes[1])
        let (a, b, sameNode) = (n1.pods[0], n2.pods[0], n1.pods[1])

        // The topology as the kernel sees it.
        let eth0 = try lab.run(in: n1, ["ip", "-o", "-4", "addr", "show", "dev", "eth0"]).checked().stdout
        #expect(eth0.contains("inet 192.168.77.11/24"))
        let link = try lab.run(in: n1, ["ip", "-o", "link", "show", "dev", "eth0"]).checked().stdout
        #expect(link.contains("mtu 1500"))
        let routes = try lab.run(in: n1, ["ip", "-4", "route", "show"]).checked().stdout
        #expect(routes.contains("10.244.2.0/24 via 192.168.77.12 dev eth0"))
        #expect(routes.contains("10.244.3.0/24 via 192.168.77.13 dev eth0"))
        #expect(!routes.contains("default"))
        let podRoutes = try lab.run(in: a, ["ip", "-4", "route", "show"]).checked().stdout
        #expect(podRoutes.contains("default via 10.244.1.1 dev eth0"))
        let ports = try lab.run(in: lab.fabric, ["ip", "-o", "link", "show", "master", "br0"]).checked().stdout
        #expect(["n1@", "n2@", "n3@"].allSatisfy { ports.contains($0) })
        for place in [lab.fabric, n1.namespace, a.namespace] {
            let v6 = try lab.run(in: place, ["cat", "/proc/sys/net/ipv6/conf/all/disable_ipv6",
                                             "/proc/sys/net/ipv6/conf/default/disable_ipv6"]).checked().stdout
            #expect(v6 == "1\n1\n", "IPv6 in \(place.name)")
        }
        #expect(try lab.run(in: n1, ["cat", "/proc/sys/net/ipv4/ip_forward"]).checked().stdout == "1\n")
        for place in [lab.fabric, n1.namespace, a.namespace] {
            #expect(try lab.run(in: place, ["ip", "-6", "-o", "addr", "show"]).checked().stdout == "", "IPv6 in \(place.name)")
        }

        // Nothing in the root namespace.
        let rootLinks = try TestNamespace.run(["ip", "-o", "link", "show"]).split(separator: "\n").map {
            $0.split(separator: ":")[1].trimmingCharacters(in: .whitespaces).split(separator: "@")[0]
        }
        #expect(Set(rootLinks).isDisjoint(with: ["n1", "n2", "n3", "vp1", "vp2", "cbr0", "br0"]), "\(rootLinks)")
        #expect(rootSysctls.allSatisfy { $0 != nil })
        #expect(rootSysctls == ["/proc/sys/net/ipv6/conf/default/disable_ipv6", "/proc/sys/net/ipv4/ip_forward"]
            .map { try? String(contentsOfFile: $0, encoding: .utf8) }, "sysctls were written in the lab, not here")
        let rootAddresses = try TestNamespace.run(["ip", "-o", "-4", "addr", "show"])
        #expect(!rootAddresses.contains("192.168.77.") && !rootAddresses.contains("10.244."))

        // Every pod reaches every other pod, on its node and across nodes.
        for from in lab.pods {
            for to in lab.pods where to != from {
                let result = try lab.ping(from: from, to: to.address, count: 2)
                #expect(result.transmitted == 2 && result.received == 2, "\(from.name) -> \(to.name): \(result.output)")
            }
        }

        // Before encryption, a capture on the underlay shows the pods' TCP and the marker.
        let capture = try lab.startCapture()
        let marker = Array("MESHLAB-PLAINTEXT-\(lab.spec.id)".utf8)
        #expect(try lab.tcpTransfer(from: a, to: b, port: 5555, payload: marker) == marker)
        let stream = try lab.tcpStream(from: b, to: a, port: 5556, marker: marker, duration: .milliseconds(300))
        #expect(stream.intact && stream.markersSent >= 5, "\(stream)")
        // Pods on the same node talk over cbr0: none of it crosses the fabric.
        let local = Array("MESHLAB-LOCAL-\(lab.spec.id)".utf8)
        #expect(try lab.tcpTransfer(from: a, to: sameNode, port: 5557, payload: local) == local)
        let report = WireReport(try capture.stop())

        #expect(report.contains(marker: marker), "\(report)")
        // Each marker leaves in its own segment (TCP_NODELAY); allow for some coalescing anyway.
        #expect(report.framesContaining(marker: marker).count > stream.markersSent / 2)
        #expect(!report.contains(marker: local), "\(report)")
        let tcp = report.flows.keys.filter { $0.ipProtocol == .tcp }
        #expect(tcp.contains { $0.source == a.address && $0.destination == b.address && $0.destinationPort == 5555 })
        #expect(tcp.contains { $0.source == a.address && $0.destination == b.address && $0.sourcePort == 5556 })
        #expect(report.frames.allSatisfy { $0.content != .ipv6 })
        let violations = report.onlyWireGuard(port: 51820, nodeAddresses: lab.nodeAddresses)
        #expect(violations.contains { $0.flow?.ipProtocol == .tcp && $0.flow?.source == a.address })
        #expect(violations.count == report.ipv4Packets, "every IPv4 packet is plain text here")

        let destroyStarted = ContinuousClock.now
        #expect(lab.destroy() == [])
        destroyed = true
        print("3-node lab with 2 pods per node: create \(created - started), destroy \(ContinuousClock.now - destroyStarted)")
        #expect(Leftovers.of(id: lab.spec.id) == [])
    }

    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func largeTransfersArriveIntact() throws {
        let lab = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 1))
        defer { lab.destroy() }
        let payload = (0..<3_000_000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ $0 >> 8) }
        let received = try lab.tcpTransfer(from: lab.pods[0], to: lab.pods[1], port: 6000, payload: payload)
        #expect(received.count == payload.count)
        #expect(received == payload)
        // Node to node over the underlay works as well.
        #expect(try lab.tcpTransfer(from: lab.nodes[0], to: lab.nodes[1], port: 6001, payload: [1, 2, 3]) == [1, 2, 3])
        #expect(try lab.tcpTransfer(from: lab.pods[0], to: lab.pods[1], port: 6002, payload: []) == [])
    }

    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func probesReportFailuresAsResultsOrErrors() throws {
        let lab = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 1))
        defer { lab.destroy() }
        let (a, b) = (lab.pods[0], lab.pods[1])
        // An address in the pod subnet that nobody has: requests leave, nothing answers.
        let lost = try lab.ping(from: a, to: try IPAddress("10.244.2.200"), count: 2, replyTimeout: .seconds(1))
        #expect(lost.transmitted == 2 && lost.received == 0 && lost.loss == 1)
        // A node has no default route: unreachable is a result too.
        let unreachable = try lab.ping(from: lab.nodes[0], to: try IPAddress("203.0.113.1"), count: 1)
        #expect(unreachable.received == 0 && unreachable.loss == 1)
        // The destination address is not in the destination namespace: the listener cannot bind.
        do {
            _ = try lab.tcpTransfer(from: a, to: Elsewhere(namespace: a.namespace, address: b.address), port: 6100, payload: [1])
            Issue.record("listened on an address the namespace does not have")
        } catch {
            #expect(error.code == .backendFailure)
            #expect(error.message.contains("cannot listen"))
        }
        // Packets dropped on the way: the transfer times out.
        try lab.run(in: lab.nodes[1], ["ip", "link", "set", "eth0", "down"]).checked()
        do {
            _ = try lab.tcpTransfer(from: a, to: b, port: 6003, payload: [1], timeout: .milliseconds(500))
            Issue.record("delivered over a link that is down")
        } catch {
            #expect(error.code == .timeout)
        }
        // A bad capture filter is tcpdump's error, with its message.
        do {
            _ = try lab.startCapture(filter: "this is not bpf")
            Issue.record("tcpdump accepted a bad filter")
        } catch {
            #expect(error.code == .backendFailure)
            #expect(error.message.contains("tcpdump"))
        }
    }

    @Test(.enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
    func nodesHavePrivatePersistentWireGuardDirectories() throws {
        let lab = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 0))
        defer { lab.destroy() }
        let (n1, n2) = (lab.nodes[0], lab.nodes[1])
        let file = "/var/run/wireguard/meshlab-probe-\(lab.spec.id)"

        let writer = try lab.spawn(in: n1, ["sh", "-c", "echo from-n1 > \(file)"])
        #expect(writer.wait(timeout: .seconds(10)) == .exited(0), "\(writer.log())")
        // A later, separate process in the same node sees it…
        let reader = try lab.spawn(in: n1, ["cat", file])
        #expect(reader.wait(timeout: .seconds(10)) == .exited(0))
        #expect(reader.log() == "from-n1\n")
        #expect(try lab.run(in: n1, ["cat", file]).checked().stdout == "from-n1\n")
        // …the other node and the host do not.
        #expect(try lab.run(in: n2, ["cat", file]).status != .exited(0))
        #expect(!FileManager.default.fileExists(atPath: file))
        #expect(try lab.run(in: n1, ["stat", "-f", "-c", "%T", "/var/run/wireguard"]).checked().stdout == "tmpfs\n")
        // /sys shows the node's own interfaces, and /run/netns is not visible inside.
        let sys = try lab.run(in: n1, ["ls", "/sys/class/net"]).checked().stdout
        #expect(sys.split(separator: "\n").sorted() == ["cbr0", "eth0", "lo"])
        #expect(!(try lab.run(in: n1, ["cat", "/proc/self/mountinfo"]).checked().stdout.contains("/run/netns")))
        // The working directory carries over into the node (entering a mount namespace resets it).
        #expect(try lab.run(in: n1, ["pwd"]).checked().stdout == FileManager.default.currentDirectoryPath + "\n")

        // A long-running process, signalled.
        let sleeper = try lab.spawn(in: n1, ["sleep", "30"], environment: ["MESHLAB_TEST": "1"])
        #expect(sleeper.isRunning)
        #expect(getpgid(sleeper.pid) == sleeper.pid)
        // nsenter execs sleep once it has entered the namespaces; read the environment after that.
        let deadline = ContinuousClock.now + .seconds(5)
        while (try? String(contentsOfFile: "/proc/\(sleeper.pid)/comm", encoding: .utf8)) != "sleep\n"
                && ContinuousClock.now < deadline { usleep(5_000) }
        let environ = try String(contentsOfFile: "/proc/\(sleeper.pid)/environ", encoding: .utf8)
        #expect(environ.split(separator: "\0").contains("MESHLAB_TEST=1"))
        #expect(sleeper.wait(timeout: .milliseconds(50)) == nil)
        sleeper.signal(SIGTERM)
        #expect(sleeper.wait(timeout: .seconds(5)) == .signalled(SIGTERM))
        #expect(!sleeper.isRunning)
        sleeper.signal(SIGKILL) // after exit: a no-op, never a stray kill

        // A missing program is a process that exits, with nsenter's reason in the log.
        let missing = try lab.spawn(in: n1, ["meshlab-no-such-program"])
        #expect(missing.wait(timeout: .seconds(5)) == .exited(127))
        #expect(missing.log().contains("meshlab-no-such-program"))
    }

    @Test(.enabled(if: TestNamespace.isRoot && TestNamespace.commandExists("wireguard-go"),
                   "needs root and wireguard-go"))
    func wireGuardGoDaemonsAreIsolatedAndKilled() throws {
        let lab = try Lab.create(LabSpec(id: testID(), nodeCount: 2, podsPerNode: 0))
        var destroyed = false
        defer { if !destroyed { lab.destroy() } }
        let (n1, n2) = (lab.nodes[0], lab.nodes[1])
        // Without -f, wireguard-go forks a daemon that detaches from its parent; the parent exits.
        for node in [n1, n2] {
            try lab.run(in: node, ["wireguard-go", "wg0"]).checked()
        }
        for node in [n1, n2] {
            #expect(try lab.run(in: node, ["test", "-S", "/var/run/wireguard/wg0.sock"]).succeeded)
            let sockets = try lab.run(in: node, ["ls", "/var/run/wireguard"]).checked().stdout
            #expect(sockets == "wg0.sock\n", "\(node.name) sees only its own socket")
            try lab.run(in: node, ["ip", "link", "show", "wg0"]).checked()
        }
        let daemons = try TestNamespace.run(["ip", "netns", "pids", n1.namespace.name])
            .split(separator: "\n").compactMap { pid_t($0) }
        #expect(!daemons.isEmpty)
        #expect(lab.destroy() == [])
        destroyed = true
        // pid 1 reaps the daemons; give it a moment.
        let deadline = ContinuousClock.now + .seconds(5)
        while daemons.contains(where: Leftovers.isAlive) && ContinuousClock.now < deadline { usleep(20_000) }
        #expect(Leftovers.of(id: lab.spec.id, pids: daemons) == [])
    }
}

/// A host that claims an address its namespace does not have.
struct Elsewhere: LabHost {
    let namespace: LabNamespace
    let address: IPAddress
}
