import ArgumentParser
import Dispatch
import Foundation
import MeshCore
import Glibc
import MeshKernel
import MeshLab

struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Build a local cluster in network namespaces, turn encryption on, and prove it on the wire.",
        discussion: """
        Creates a fabric namespace with a bridge (the underlay), one namespace per node and per pod, and routes \
        between nodes as a plain CNI would. Then starts a controller and one agent per node on a SQLite datastore \
        (or etcd in the fabric namespace with --datastore etcd), \
        runs `meshguard enable`, and checks that every pod reaches every other pod and that a capture on the fabric \
        during a transfer of a known marker holds only WireGuard UDP between node addresses, never the marker. The \
        same capture is taken before encryption, where the marker must show (so the check can fail). Needs root.
        """
    )

    @Option(help: "Number of nodes.") var nodes = 3
    @Option(help: "Pods per node.") var podsPerNode = 2
    @Flag(help: "Leave the cluster running afterwards (remove it with `meshguard demo --clean ID`).") var keep = false
    @Flag(help: "Enable strict mode (plaintext between nodes refused).") var strict = false
    @Option(help: "Lab id (names of namespaces); default: a fresh one.") var id: String?
    @Option(help: "Remove a kept or crashed demo cluster with this id, then exit.") var clean: String?
    @Option(help: ArgumentHelp("The datastore: sqlite (a file shared by every process) or etcd (etcd in the fabric namespace, reached over the underlay).",
                               valueName: "sqlite|etcd"))
    var datastore = "sqlite"
    @Option(help: "etcd members with --datastore etcd.") var etcdMembers = 1

    func validate() throws {
        guard ["sqlite", "etcd"].contains(datastore) else { throw ValidationError("--datastore '\(datastore)' is not one of sqlite, etcd") }
        guard (1...5).contains(etcdMembers) else { throw ValidationError("--etcd-members \(etcdMembers) must be 1-5") }
        if etcdMembers != 1 && datastore != "etcd" { throw ValidationError("--etcd-members applies to --datastore etcd") }
        guard (2...20).contains(nodes) else { throw ValidationError("--nodes \(nodes) must be 2-20") }
        guard (1...8).contains(podsPerNode) else { throw ValidationError("--pods-per-node \(podsPerNode) must be 1-8") }
    }

    func run() async throws {
        if let clean {
            let removed = Lab.destroyLeftovers(id: clean)
            print(removed.isEmpty ? "nothing left of demo \(clean)" : "removed demo \(clean)")
            return
        }
        guard geteuid() == 0 else {
            throw MeshError(.permissionDenied, "meshguard demo needs root: it creates network namespaces, veth pairs and bridges")
        }
        // The nodes are namespaces of this kernel: what works here works in every node. Agents
        // run with --wireguard-backend auto and pick the same.
        let kernel = KernelDevices.availability()
        let wireguardGo = findExecutable("wireguard-go")
        if !kernel.isAvailable && wireguardGo == nil {
            throw MeshError(.unsupported, """
                meshguard demo needs WireGuard: neither kernel WireGuard nor wireguard-go is usable here. \
                Load the wireguard kernel module, or install wireguard-go (apt-get install wireguard-go).
                """)
        }
        if datastore == "etcd" && !EtcdCluster.isInstalled {
            throw MeshError(.unsupported, "meshguard demo --datastore etcd needs etcd: apt-get install etcd-server etcd-client")
        }
        let binary = try selfExecutable()
        let spec = LabSpec(id: id ?? LabSpec.uniqueID(prefix: "mgd"), nodeCount: nodes, podsPerNode: podsPerNode)
        print("meshguard demo: \(nodes) nodes × \(podsPerNode) pods in network namespaces (lab \(spec.id))")
        if kernel.isAvailable {
            print("WireGuard: kernel module (this kernel has WireGuard)")
        } else {
            print("WireGuard: userspace, \(wireguardGo ?? "wireguard-go") (this kernel has no WireGuard)")
        }

        var step = 0
        let steps = 6
        func say(_ text: String) { step += 1; print("\n[\(step)/\(steps)] \(text)") }

        say("building the cluster")
        let started = ContinuousClock.now
        let lab = try Lab.create(spec)
        let interrupt = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
        signal(SIGINT, SIG_IGN)
        interrupt.setEventHandler {
            print("\ninterrupted; tearing down")
            lab.destroy()
            Glibc.exit(130)
        }
        interrupt.resume()
        var options = MeshClusterOptions(binary: binary)
        options.logLevel = "notice"
        if datastore == "etcd" { options.etcdMembers = etcdMembers }
        let cluster = MeshCluster(lab: lab, options: options)
        defer {
            if keep {
                print("\nkept: lab \(spec.id), datastore \(cluster.datastoreURL); remove with `meshguard demo --clean \(spec.id)`")
            } else {
                cluster.stopDatastore()
                lab.destroy()
                print("\ntorn down: namespaces, processes and files removed")
            }
        }
        print("  built in \(seconds(ContinuousClock.now - started))")
        for node in lab.nodes {
            print("  \(node.name)  underlay \(node.address)  pod CIDR \(node.podCIDR)  pods \(node.pods.map { "\($0.address)" }.joined(separator: ", "))")
        }

        let marker = "MESHGUARD-DEMO-MARKER-\(spec.id)"
        let (a, b) = (lab.nodes[0].pods[0], lab.nodes[1].pods[0])
        var failures: [String] = []

        say("before encryption: pods talk over plain routes")
        let plainFailures = try lab.pingAll(count: 2)
        print("  every pod reaches every other pod: \(plainFailures.isEmpty ? "yes" : "NO, \(plainFailures.count) pairs fail")")
        let plain = try cluster.captureTransfer(from: a, to: b, marker: marker, duration: .seconds(1))
        print(indent(plain.description))
        if !plain.markerSeen { failures.append("the capture before encryption did not show the marker: the capture cannot be trusted") }

        say("starting the controller and \(nodes) agents")
        if options.etcdMembers > 0 {
            try cluster.startDatastore()
            print("  datastore: etcd, \(options.etcdMembers) member\(options.etcdMembers == 1 ? "" : "s") in the fabric namespace (\(cluster.datastoreURL)), reached over the underlay")
        } else {
            print("  datastore: SQLite, \(cluster.datastorePath)")
        }
        try cluster.startController()
        for node in lab.nodes { try cluster.startAgent(node) }
        do {
            try cluster.waitForAcceptance()
        } catch {
            print(cluster.logs())
            throw error
        }
        print("  all \(nodes) nodes accepted by the controller")

        say("meshguard enable\(strict ? " --strict" : "") --wait")
        let enableStarted = ContinuousClock.now
        let enable = try cluster.cli(["enable"] + cluster.waitFlags + (strict ? ["--strict"] : []))
        print(indent(enable.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        guard enable.succeeded else {
            print(enable.stderr)
            print(cluster.logs())
            throw MeshError(.timeout, "agents did not apply `meshguard enable`")
        }
        print("  in \(seconds(ContinuousClock.now - enableStarted))")

        say("proof")
        let encryptedFailures = try lab.pingAll(count: 3)
        print("  every pod reaches every other pod: \(encryptedFailures.isEmpty ? "yes (\(lab.pods.count * (lab.pods.count - 1)) pairs)" : "NO")")
        for (x, y, result) in encryptedFailures { failures.append("\(x.name) → \(y.name): \(result)") }
        let evidence = try cluster.captureTransfer(from: a, to: b, marker: marker, duration: .seconds(2))
        print(indent(evidence.description))
        if evidence.encrypted {
            let besides = cluster.controlPlane.isEmpty ? "" : " (besides the agents' own etcd connections, which never carry pod traffic)"
            print("  ✔ only WireGuard (UDP \(options.wireGuardPort)) between node addresses on the fabric\(besides); the marker never appears")
        } else {
            failures.append("the fabric carried something other than WireGuard, or the marker, or the transfer failed")
        }

        say("summary")
        print(indent(try cluster.cli(["status"]).checked().stdout))

        if !failures.isEmpty {
            print("\nFAILED:")
            for failure in failures { print("  ✘ \(failure)") }
            print(cluster.logs())
            throw ExitCode.failure
        }
        print("\n✔ encryption proven: pods reach each other, and the wire shows only ciphertext")
    }
}

func indent(_ text: String) -> String {
    text.split(separator: "\n", omittingEmptySubsequences: false).map { "  " + $0 }.joined(separator: "\n")
}

func seconds(_ duration: Duration) -> String {
    let ms = duration.components.seconds * 1000 + duration.components.attoseconds / 1_000_000_000_000_000
    return String(format: "%.1f s", Double(ms) / 1000)
}

func findExecutable(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return path.split(separator: ":").map { "\($0)/\(name)" }.first { FileManager.default.isExecutableFile(atPath: $0) }
}

func selfExecutable() throws -> String {
    do {
        return try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")
    } catch {
        throw MeshError(.internalError, "cannot find this program's own path in /proc/self/exe: \(error)")
    }
}
