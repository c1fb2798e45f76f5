import Foundation
import Glibc
public import MeshCore

/// How a ``MeshCluster`` runs Meshguard: which binary, and the timings that keep tests and the
/// demo quick (short leases and resync intervals; production defaults are longer).
public struct MeshClusterOptions: Sendable {
    /// The `meshguard` executable to run in the lab.
    public var binary: String
    // Short so that tests and the demo are quick; stretched under emulation (``LabTime``), where
    // a lease of a few seconds would expire between two keep-alives of a slow agent.
    public var agentLeaseTTL = LabTime.scaled(seconds: 6)
    public var controllerLeaseTTL = LabTime.scaled(seconds: 4)
    public var resyncInterval = "\(LabTime.scaled(seconds: 1))s"
    public var statusInterval = "\(LabTime.scaled(seconds: 1))s"
    public var pools = ["10.244.0.0/16"]
    public var logLevel = "info"
    public var wireGuardPort: UInt16 = 51830
    public var httpPort: UInt16 = 9473
    /// `--wireguard-backend` for every agent: `auto`, `kernel` or `userspace`.
    public var wireGuardBackend = "auto"
    /// Appended to every agent's command line.
    public var extraAgentArguments: [String] = []
    /// 0: a SQLite file shared by every process (the default). 1 or more: an etcd cluster of
    /// that many members in the fabric namespace, on the fabric's address, which the agents
    /// reach over the underlay (main table: table T routes only pod CIDRs and pools, so the
    /// datastore's path never enters the tunnel the agents configure).
    public var etcdMembers = 0

    public init(binary: String) { self.binary = binary }
}

/// A lab with Meshguard running in it: a controller in the fabric namespace and one agent per
/// node (in the node's network and mount namespaces), sharing a SQLite datastore file.
public final class MeshCluster: Sendable {
    public let lab: Lab
    public let options: MeshClusterOptions
    public let datastorePath: String
    private let processes = Locked<[String: LabProcess]>([:])
    private let etcdCluster = Locked<EtcdCluster?>(nil)

    public init(lab: Lab, options: MeshClusterOptions) {
        self.lab = lab
        self.options = options
        datastorePath = "\(lab.workDirectory)/meshguard.db"
    }

    public var datastoreURL: String {
        guard options.etcdMembers > 0 else { return "sqlite://\(datastorePath)" }
        return "etcd://" + (0..<options.etcdMembers).map { "\(lab.fabricAddress):\(EtcdCluster.labClientPort(member: $0))" }.joined(separator: ",")
    }

    /// The etcd cluster, once ``startDatastore()`` started it.
    public var etcd: EtcdCluster? { etcdCluster.withLock { $0 } }

    /// Starts etcd in the fabric namespace when the options ask for it (SQLite needs nothing:
    /// the controller creates the file). The members die with the lab.
    public func startDatastore() throws(MeshError) {
        guard options.etcdMembers > 0, etcd == nil else { return }
        let cluster = try EtcdCluster.start(size: options.etcdMembers, placement: .lab(lab, lab.fabric),
                                            host: "\(lab.fabricAddress)", parentDirectory: lab.workDirectory)
        etcdCluster.withLock { $0 = cluster }
    }

    /// The datastore's endpoints that nodes reach over the underlay (etcd's client ports);
    /// none for SQLite, which is a file.
    public var controlPlane: Set<ControlPlaneEndpoint> {
        Set((0..<options.etcdMembers).map { ControlPlaneEndpoint(address: lab.fabricAddress, port: UInt16(EtcdCluster.labClientPort(member: $0))) })
    }

    /// ``Lab/captureTransfer(from:to:marker:port:wireGuardPort:controlPlane:duration:)`` with
    /// this cluster's WireGuard port and datastore endpoints.
    public func captureTransfer(from: LabPod, to: LabPod, marker: String,
                                duration: Duration = .seconds(2)) throws(MeshError) -> WireEvidence {
        try lab.captureTransfer(from: from, to: to, marker: marker, wireGuardPort: options.wireGuardPort,
                                controlPlane: controlPlane, duration: duration)
    }

    /// Stops etcd (if it runs) and removes its data.
    public func stopDatastore() {
        etcdCluster.withLock { $0 }?.stop()
    }

    /// Where node `node` keeps its private key.
    public func stateDirectory(of node: LabNode) -> String { "\(lab.workDirectory)/\(node.name)-state" }

    // MARK: processes

    /// Starts a controller instance in the fabric namespace (several may run: one leads).
    @discardableResult
    public func startController(_ id: String = "c1") throws(MeshError) -> LabProcess {
        var arguments = [options.binary, "controller", "--datastore", datastoreURL, "--identity", id,
                         "--lease-ttl", "\(options.controllerLeaseTTL)", "--log-level", options.logLevel]
        for pool in options.pools { arguments += ["--pod-cidr-pool", pool] }
        let process = try lab.spawn(in: lab.fabric, arguments, logFile: "\(lab.workDirectory)/controller-\(id).log")
        processes.withLock { $0["controller-\(id)"] = process }
        return process
    }

    public func agentArguments(for node: LabNode) -> [String] {
        [options.binary, "agent", "--datastore", datastoreURL, "--node", node.name, "--address", "\(node.address)",
         "--pod-cidr", "\(node.podCIDR)", "--state-dir", stateDirectory(of: node), "--lease-ttl", "\(options.agentLeaseTTL)",
         "--resync-interval", options.resyncInterval, "--status-interval", options.statusInterval,
         "--listen-port", "\(options.wireGuardPort)", "--http-port", "\(options.httpPort)", "--log-level", options.logLevel,
         "--wireguard-backend", options.wireGuardBackend]
            + options.extraAgentArguments
    }

    /// Starts the agent of `node` (its log is appended to, so restarts keep history).
    @discardableResult
    public func startAgent(_ node: LabNode) throws(MeshError) -> LabProcess {
        let process = try lab.spawn(in: node, agentArguments(for: node), logFile: "\(lab.workDirectory)/agent-\(node.name).log")
        processes.withLock { $0["agent-\(node.name)"] = process }
        return process
    }

    public func agent(_ node: LabNode) -> LabProcess? { processes.withLock { $0["agent-\(node.name)"] } }
    public func controller(_ id: String = "c1") -> LabProcess? { processes.withLock { $0["controller-\(id)"] } }

    /// Every process this cluster started, by role (`agent-n1`, `controller-c1`).
    public var allProcesses: [String: LabProcess] { processes.withLock { $0 } }

    /// Runs a `meshguard` CLI command against this cluster's datastore.
    public func cli(_ arguments: [String], timeout: Duration = LabTime.scaled(.seconds(90))) throws(MeshError) -> CommandResult {
        try lab.run(in: lab.fabric, [options.binary] + arguments + ["--datastore", datastoreURL], timeout: timeout)
    }

    /// `--wait --timeout N` for `enable`/`disable`, stretched under emulation (``LabTime``).
    public var waitFlags: [String] { ["--wait", "--timeout", "\(LabTime.scaled(seconds: 60))"] }

    /// The newest modification revision among the keys under `prefix` (0 when there are none),
    /// from `meshguard datastore list`.
    public func latestRevision(under prefix: String) throws(MeshError) -> Revision {
        let listing = try cli(["datastore", "list", prefix]).checked().stdout
        var latest: Revision = 0
        for line in listing.split(separator: "\n") {
            // "<key> (rev N)" or "<key> (rev N, lease L)"
            guard let range = line.range(of: " (rev ") else { continue }
            let digits = line[range.upperBound...].prefix { $0.isNumber }
            latest = max(latest, Revision(digits) ?? 0)
        }
        return latest
    }

    /// `meshguard status -o json`, decoded.
    public func status() throws(MeshError) -> ClusterReport {
        let result = try cli(["status", "-o", "json"]).checked()
        do {
            return try JSONDecoder().decode(ClusterReport.self, from: Data(result.stdout.utf8))
        } catch {
            throw MeshError(.invalidRecord, "meshguard status -o json printed something else: \(error)")
        }
    }

    /// The pid of the wireguard-go daemon serving `node`, if one runs.
    public func wireGuardGoPID(on node: LabNode) -> pid_t? {
        guard let result = try? lab.run(in: lab.fabric, ["ip", "netns", "pids", node.namespace.name]), result.succeeded else { return nil }
        for line in result.stdout.split(separator: "\n") {
            guard let pid = pid_t(line.trimmingCharacters(in: .whitespaces)),
                  let cmdline = try? String(contentsOfFile: "/proc/\(pid)/cmdline", encoding: .utf8) else { continue }
            if cmdline.split(separator: "\0").first?.hasSuffix("wireguard-go") == true { return pid }
        }
        return nil
    }

    /// Waits for `condition`, polling every 200 ms; throws `.timeout` naming `what`.
    public func wait(_ what: String, timeout: Duration = .seconds(60),
                     until condition: () throws -> Bool) throws(MeshError) {
        let deadline = ContinuousClock.now + LabTime.scaled(timeout)
        var lastError: (any Error)?
        while ContinuousClock.now < deadline {
            do {
                if try condition() { return }
            } catch {
                lastError = error
            }
            Thread.sleep(forTimeInterval: 0.2)
        }
        throw MeshError(.timeout, "timed out after \(LabTime.scaled(timeout)) waiting for \(what)" + (lastError.map { " (last error: \($0))" } ?? ""))
    }

    /// Waits until every node is accepted by the controller.
    public func waitForAcceptance(timeout: Duration = .seconds(60)) throws(MeshError) {
        try wait("all \(lab.nodes.count) nodes accepted", timeout: timeout) {
            let report = try status()
            return report.nodes.count == lab.nodes.count && report.nodes.allSatisfy { $0.standing == .accepted }
        }
    }

    /// Every process started, newest log lines first, for failure reports; etcd's too.
    public func logs(lines: Int = 30) -> String {
        processLogs(lines: lines) + (etcd.map { "\n" + $0.logs(lines: lines) } ?? "")
    }

    private func processLogs(lines: Int) -> String {
        allProcesses.sorted { $0.key < $1.key }.map { name, process in
            let log = process.log().split(separator: "\n", omittingEmptySubsequences: false).suffix(lines).joined(separator: "\n")
            return "── \(name) (\(process.isRunning ? "running" : "\(process.termination.map { "\($0)" } ?? "?")")) ──\n\(log)"
        }.joined(separator: "\n")
    }
}
