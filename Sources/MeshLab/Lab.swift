import Foundation
import Glibc
import MeshCore

/// A node of the lab: a network namespace (`<id>-n<i>`) with the underlay on `eth0` and a pod
/// bridge `cbr0`, plus its own mount namespace (private /var/run/wireguard).
public struct LabNode: LabHost, Hashable {
    /// 1-based.
    public let index: Int
    /// `n1`, `n2`, …: the node name an agent would register.
    public let name: String
    public let namespace: LabNamespace
    /// The underlay address on `eth0`, 192.168.x.(10+i)/24.
    public let address: IPAddress
    /// 10.244.i.0/24.
    public let podCIDR: IPPrefix
    /// 10.244.i.1, on `cbr0`; the pods' default gateway.
    public let gatewayAddress: IPAddress
    public let pods: [LabPod]
}

/// A pod: a network namespace (`<id>-n<i>-p<j>`) whose `eth0` is a veth into its node's `cbr0`.
public struct LabPod: LabHost, Hashable {
    /// 1-based within its node.
    public let index: Int
    /// `n1-p1`, …
    public let name: String
    public let namespace: LabNamespace
    /// 10.244.i.(1+j)/24.
    public let address: IPAddress
    /// The name of the node it lives on (`n1`).
    public let nodeName: String
}

/// A local cluster built from network namespaces.
///
/// Topology, for `LabSpec(id: "x", nodeCount: 3, podsPerNode: 2)`:
/// - `x-fab`: bridge `br0` (the underlay) with 192.168.77.1/24, where a test may run a datastore.
///   Capturing there sees every frame between nodes.
/// - `x-n1`…`x-n3`: `eth0` (veth; its peer `n1`… is a port of `br0`) with 192.168.77.11…13/24;
///   bridge `cbr0` with 10.244.i.1/24; ip_forward=1; a route to every other node's pod CIDR via
///   that node's underlay address (host-gw, plain text before encryption).
/// - `x-n1-p1`…: `eth0` (veth; its peer `vp1`… is a port of the node's `cbr0`) with
///   10.244.i.(1+j)/24, default route via 10.244.i.1.
/// - MTU 1500 everywhere. IPv6 is disabled in every namespace (all and default), so the fabric
///   carries no IPv6 noise. No default route outside pods, nothing connects to the host's
///   interfaces, and the root namespace gets no interface or address.
/// - rp_filter is left at the kernel's default for a new namespace, which is 0 (off): a host's
///   sysctl.d settings (often 2, loose) apply to its root namespace only, unless it sets
///   net.core.devconf_inherit_init_net=1. A test that depends on reverse-path filtering must
///   set it itself.
///
/// Lifecycle: ``create(_:)`` builds everything or, when a step fails, removes what it built and
/// throws. ``destroy()`` kills every process in the lab's namespaces, deletes the namespaces,
/// unmounts the nodes' mount namespaces and removes temporary files; it is idempotent and also
/// runs when the last reference goes away. Make sure it runs when a test fails:
///
/// ```swift
/// try await Lab.withLab(LabSpec()) { lab in ... }   // destroys on return and on throw
/// // or
/// let lab = try Lab.create(LabSpec())
/// defer { lab.destroy() }
/// ```
///
/// A process that crashed (or was SIGKILLed) before either ran leaves its lab behind; remove it
/// with ``destroyLeftovers(id:)``.
///
/// The methods block the calling thread for as long as the commands they run (each bounded by a
/// timeout). All of them are safe to call from several threads.
public final class Lab: Sendable {
    public let spec: LabSpec
    public let nodes: [LabNode]
    /// The fabric namespace, where `br0` is.
    public let fabric: LabNamespace
    /// br0's own address, 192.168.x.1.
    public let fabricAddress: IPAddress
    /// 192.168.x.0/24.
    public let underlayPrefix: IPPrefix
    /// Default logs of spawned processes and capture files; removed by ``destroy()``.
    public let workDirectory: String

    let tools: ToolPaths
    private let state = Locked(State())

    private struct State {
        var destroyed = false
        var processes: [LabProcess] = []
        var counter = 0
    }

    /// Every pod, node by node.
    public var pods: [LabPod] { nodes.flatMap(\.pods) }
    /// The nodes' underlay addresses.
    public var nodeAddresses: Set<IPAddress> { Set(nodes.map(\.address)) }

    /// The node named `n1`, `n2`, …
    public func node(_ name: String) -> LabNode? { nodes.first { $0.name == name } }
    /// The node a pod lives on.
    public func node(of pod: LabPod) -> LabNode { node(pod.nodeName)! }

    // MARK: creating

    /// Builds the lab described by `spec`.
    ///
    /// Errors: `.permissionDenied` when not root; `.unsupported` naming the packages to install
    /// when ip, tcpdump, nsenter, unshare, mount or ping is missing; `.invalidArgument` for a bad
    /// spec; `.alreadyExists` when a namespace or directory of this id exists (another live lab,
    /// or a crashed one: see ``destroyLeftovers(id:)``), in which case nothing is touched;
    /// `.backendFailure` when a command fails, after everything built so far was removed.
    public static func create(_ spec: LabSpec = LabSpec()) throws(MeshError) -> Lab {
        try create(spec, afterStep: { _ throws(MeshError) in })
    }

    /// `create`, calling `afterStep` with the name of each finished step (`claim`, `namespaces`,
    /// `fabric`, `node n1`, …, `routes`, `mounts`); an error it throws fails the creation
    /// there. Tests use it to check the cleanup after a partial build.
    static func create(_ spec: LabSpec, afterStep: (String) throws(MeshError) -> Void) throws(MeshError) -> Lab {
        try requireRoot()
        let tools = try ToolPaths.locate()
        try spec.validate()
        for name in spec.allNamespaceNames where Netns.exists(name) {
            throw MeshError(.alreadyExists,
                "network namespace \(name) exists: lab '\(spec.id)' is running or crashed "
                + "(Lab.destroyLeftovers(id: \"\(spec.id)\") removes a crashed one)")
        }
        // The exclusive mkdir is the claim on the id: a second creator with the same id stops
        // here, before it could delete anything of the first.
        try NodeMounts.prepare(directory: NodeMounts.directory(id: spec.id))
        let lab = Lab(spec: spec, tools: tools)
        do {
            try lab.build(afterStep: afterStep)
        } catch {
            lab.destroy()
            throw error
        }
        return lab
    }

    private init(spec: LabSpec, tools: ToolPaths) {
        self.spec = spec
        self.tools = tools
        fabric = LabNamespace(name: spec.fabricNamespace, mountNamespacePath: nil)
        fabricAddress = spec.fabricAddress
        underlayPrefix = spec.underlayPrefix
        workDirectory = Lab.workDirectory(id: spec.id)
        nodes = (1...spec.nodeCount).map { i in
            let pods = spec.podsPerNode == 0 ? [] : (1...spec.podsPerNode).map { j in
                LabPod(index: j, name: "n\(i)-p\(j)",
                       namespace: LabNamespace(name: spec.podNamespace(node: i, pod: j), mountNamespacePath: nil),
                       address: spec.podAddress(node: i, pod: j), nodeName: "n\(i)")
            }
            return LabNode(index: i, name: "n\(i)",
                           namespace: LabNamespace(name: spec.nodeNamespace(i),
                                                   mountNamespacePath: NodeMounts.file(id: spec.id, node: i)),
                           address: spec.nodeAddress(i), podCIDR: spec.podCIDR(i),
                           gatewayAddress: spec.gatewayAddress(i), pods: pods)
        }
    }

    static func workDirectory(id: String) -> String {
        let tmp = NSTemporaryDirectory()
        return (tmp.hasSuffix("/") ? tmp : tmp + "/") + "meshguard-lab-\(id)"
    }

    private func ip(_ namespace: LabNamespace, _ words: String...) throws(MeshError) {
        try Subprocess.run([tools.ip, "-n", namespace.name] + words, timeout: LabTime.scaled(.seconds(10))).checked()
    }

    private func build(afterStep: (String) throws(MeshError) -> Void) throws(MeshError) {
        guard mkdir(workDirectory, 0o700) == 0 || errno == EEXIST else {
            throw Subprocess.errnoError("mkdir \(workDirectory)")
        }
        try afterStep("claim")

        let allNamespaces = [fabric] + nodes.flatMap { [$0.namespace] + $0.pods.map(\.namespace) }
        let nodeNames = Set(nodes.map(\.namespace.name))
        for namespace in allNamespaces {
            try Netns.add(namespace.name, ip: tools.ip)
            // Before any interface exists, so `default` covers every one made later.
            var sysctls: [(key: String, value: String, optional: Bool)] = [
                ("net.ipv6.conf.all.disable_ipv6", "1", true),
                ("net.ipv6.conf.default.disable_ipv6", "1", true),
            ]
            if nodeNames.contains(namespace.name) { sysctls.append(("net.ipv4.ip_forward", "1", false)) }
            try Netns.writeSysctls(sysctls, in: namespace.path)
            try ip(namespace, "link", "set", "lo", "up")
        }
        try afterStep("namespaces")

        // STP is off by default on a Linux bridge, so ports forward at once (no 15 s delay) and
        // no BPDUs appear in captures.
        try ip(fabric, "link", "add", "br0", "type", "bridge")
        try ip(fabric, "addr", "add", "\(fabricAddress)/24", "dev", "br0")
        try ip(fabric, "link", "set", "br0", "up")
        try afterStep("fabric")

        for node in nodes {
            let ns = node.namespace
            // Both ends are born in their namespaces, so nothing appears in the root namespace
            // and parallel labs cannot collide on interface names there.
            try ip(ns, "link", "add", "eth0", "mtu", "1500", "type", "veth", "peer", "name", node.name, "netns", fabric.name)
            try ip(fabric, "link", "set", node.name, "master", "br0", "up")
            try ip(ns, "addr", "add", "\(node.address)/24", "dev", "eth0")
            try ip(ns, "link", "set", "eth0", "up")
            try ip(ns, "link", "add", "cbr0", "type", "bridge")
            try ip(ns, "addr", "add", "\(node.gatewayAddress)/24", "dev", "cbr0")
            try ip(ns, "link", "set", "cbr0", "up")
            for pod in node.pods {
                let peer = "vp\(pod.index)"
                try ip(pod.namespace, "link", "add", "eth0", "mtu", "1500", "type", "veth", "peer", "name", peer, "netns", ns.name)
                try ip(ns, "link", "set", peer, "master", "cbr0", "up")
                try ip(pod.namespace, "addr", "add", "\(pod.address)/24", "dev", "eth0")
                try ip(pod.namespace, "link", "set", "eth0", "up")
                try ip(pod.namespace, "route", "add", "default", "via", "\(node.gatewayAddress)")
            }
            try afterStep("node \(node.name)")
        }

        for node in nodes {
            for other in nodes where other.index != node.index {
                try ip(node.namespace, "route", "add", "\(other.podCIDR)", "via", "\(other.address)", "dev", "eth0")
            }
        }
        try afterStep("routes")

        for node in nodes {
            try NodeMounts.create(file: node.namespace.mountNamespacePath!, netnsPath: node.namespace.path, tools: tools)
        }
        try afterStep("mounts")
    }

    // MARK: destroying

    /// Kills every process the lab started and every other process inside its namespaces
    /// (daemons that detached themselves included), deletes the namespaces, unmounts and
    /// removes the nodes' mount-namespace files and directory, and removes ``workDirectory``
    /// (spawned processes' default logs and capture files with it; copy what you want to keep).
    ///
    /// Never throws: it does all it can and returns what it could not do (empty when the lab is
    /// gone entirely). Calling it again returns an empty list and does nothing.
    @discardableResult
    public func destroy() -> [String] {
        let processes: [LabProcess]? = state.withLock { state in
            if state.destroyed { return nil }
            state.destroyed = true
            defer { state.processes = [] }
            return state.processes
        }
        guard let processes else { return [] }
        for process in processes { process.kill() }
        let mountFiles = nodes.compactMap(\.namespace.mountNamespacePath)
        return Lab.remove(id: spec.id, namespaceNames: spec.allNamespaceNames, mountFiles: mountFiles)
    }

    deinit { destroy() }

    /// Removes what a crashed run with this id left: processes in its namespaces, the
    /// namespaces (`<id>-fab`, `<id>-n<i>`, `<id>-n<i>-p<j>`), its mount directory and its
    /// temporary directory. Does nothing when there is nothing. Returns what it could not
    /// remove; an id that is not a valid lab id is reported there and nothing is touched.
    /// Do not call it for a lab that is in use: it destroys that one too.
    @discardableResult
    public static func destroyLeftovers(id: String) -> [String] {
        do { try LabSpec(id: id).validate() } catch { return [error.message] }
        let names = Netns.names().filter { isLabNamespace($0, id: id) }
        let directory = NodeMounts.directory(id: id)
        let mountFiles = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [])
            .map { "\(directory)/\($0)" }
        return remove(id: id, namespaceNames: names, mountFiles: mountFiles)
    }

    /// `<id>-fab`, `<id>-n<digits>` or `<id>-n<digits>-p<digits>`.
    static func isLabNamespace(_ name: String, id: String) -> Bool {
        guard name.hasPrefix(id + "-") else { return false }
        let rest = name.dropFirst(id.count + 1)
        if rest == "fab" { return true }
        let parts = rest.split(separator: "-", omittingEmptySubsequences: false)
        func numbered(_ part: Substring, _ letter: Character) -> Bool {
            part.count > 1 && part.first == letter && part.dropFirst().allSatisfy { $0.isASCII && $0.isNumber }
        }
        switch parts.count {
        case 1: return numbered(parts[0], "n")
        case 2: return numbered(parts[0], "n") && numbered(parts[1], "p")
        default: return false
        }
    }

    private static func remove(id: String, namespaceNames: [String], mountFiles: [String]) -> [String] {
        var problems: [String] = []
        // Processes first: a process inside keeps its network namespace (with its interfaces)
        // and its mount namespace alive after their files are gone.
        let inodes = Set(namespaceNames.compactMap { Netns.inode(ofFile: Netns.path($0)) }
                         + mountFiles.compactMap { NodeMounts.inode(ofFile: $0) })
        let stubborn = ProcessScan.killAll(inNamespaces: inodes)
        if !stubborn.isEmpty {
            problems.append("processes survived SIGKILL in lab \(id): \(stubborn.map(String.init).joined(separator: " "))")
        }
        // Pods, then nodes, then the fabric: the reverse of creation.
        for name in namespaceNames.reversed() {
            if let problem = Netns.delete(name) { problems.append(problem) }
        }
        let directory = NodeMounts.directory(id: id)
        if FileManager.default.fileExists(atPath: directory) {
            problems += NodeMounts.remove(directory: directory)
        }
        let work = workDirectory(id: id)
        if FileManager.default.fileExists(atPath: work) {
            do { try FileManager.default.removeItem(atPath: work) } catch {
                problems.append("cannot remove \(work): \(error)")
            }
        }
        return problems
    }

    /// Creates a lab, runs `body` with it and destroys the lab when `body` returns or throws.
    /// Problems during teardown are written to standard error (there is no other channel).
    public static func withLab<T>(_ spec: LabSpec = LabSpec(),
                                  isolation: isolated (any Actor)? = #isolation,
                                  _ body: (Lab) async throws -> T) async throws -> T {
        let lab = try create(spec)
        defer {
            for problem in lab.destroy() {
                FileHandle.standardError.write(Data("meshguard lab \(spec.id) teardown: \(problem)\n".utf8))
            }
        }
        return try await body(lab)
    }

    // MARK: processes

    /// Starts a long-running process inside `place` (a node: its network and mount namespace;
    /// a pod or the fabric: its network namespace) and returns at once.
    ///
    /// The process leads its own process group, has /dev/null as input and appends its output
    /// to `logFile` (default: a new file in ``workDirectory``, removed with the lab). `arguments[0]`
    /// is looked up in PATH inside the namespace; `environment` is added to this process's.
    /// ``destroy()`` kills it (and its group) if it still runs.
    ///
    /// A program that is not found or exits at once is not an error here: it shows as a
    /// stopped ``LabProcess`` (nsenter exits 127 or 126) with the reason in its log. Errors:
    /// `.invalidArgument` for empty arguments, `.unavailable` after ``destroy()``,
    /// `.backendFailure` when nsenter cannot be started.
    public func spawn(in place: some LabPlace, _ arguments: [String], environment: [String: String] = [:],
                      logFile: String? = nil) throws(MeshError) -> LabProcess {
        guard let program = arguments.first else {
            throw MeshError(.invalidArgument, "spawn needs a program to run")
        }
        let namespace = place.namespace
        let argv = namespace.enter(tools.nsenter) + arguments
        return try state.withLock { state throws(MeshError) in
            // Under the lock, so destroy() cannot run between the check and the registration.
            guard !state.destroyed else { throw destroyedError }
            state.counter += 1
            let base = program.split(separator: "/").last.map(String.init) ?? "process"
            let log = logFile ?? "\(workDirectory)/\(namespace.name)-\(state.counter)-\(base).log"
            let pid = try Subprocess.spawn(argv, environment: environment, output: .logFile(log))
            let process = LabProcess(pid: pid, arguments: arguments, namespace: namespace, logFile: log)
            state.processes.append(process)
            return process
        }
    }

    /// Runs a command to completion inside `place` (a node: network and mount namespace; a pod
    /// or the fabric: network namespace) and returns its status and output.
    ///
    /// A non-zero exit is a result (see ``CommandResult/checked()``). Errors: `.timeout` when
    /// it runs past `timeout` (its process group is killed first), `.unavailable` after
    /// ``destroy()``, `.invalidArgument` for empty arguments. A daemon the command leaves
    /// behind in the namespace is killed by ``destroy()``.
    public func run(in place: some LabPlace, _ arguments: [String],
                    timeout: Duration = LabTime.scaled(.seconds(30))) throws(MeshError) -> CommandResult {
        guard !arguments.isEmpty else { throw MeshError(.invalidArgument, "run needs a program to run") }
        try checkAlive()
        return try Subprocess.run(place.namespace.enter(tools.nsenter) + arguments, timeout: timeout)
    }

    /// A number unique within this lab, for file names.
    func nextSerial() -> Int {
        state.withLock { state in
            state.counter += 1
            return state.counter
        }
    }

    func checkAlive() throws(MeshError) {
        if state.current.destroyed { throw destroyedError }
    }

    private var destroyedError: MeshError {
        MeshError(.unavailable, "lab \(spec.id) was destroyed")
    }
}
