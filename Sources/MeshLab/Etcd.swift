import Foundation
import Glibc
public import MeshCore

/// Real etcd members (Debian's `etcd-server`), started for tests and the demo: on loopback
/// with free ports, or inside a lab namespace on the underlay. Each member gets a fresh data
/// directory and a unique name; ``stop()`` kills every member and removes the directories.
///
/// A member counts as started only when *its own* process listens on its client port and
/// answers `etcdctl endpoint health`: a stale etcd from elsewhere holding the port must not be
/// mistaken for it.
public final class EtcdCluster: Sendable {
    /// PEM files for TLS on the client port: etcd's server certificate and key (also
    /// presented by etcdctl as its client certificate, so it needs both server and client
    /// use), and the CA that signed the certificates clients must present.
    public struct TLSFiles: Sendable, Hashable {
        public let ca: String
        public let certificate: String
        public let key: String
        public init(ca: String, certificate: String, key: String) {
            self.ca = ca
            self.certificate = certificate
            self.key = key
        }
    }

    public struct Member: Sendable, CustomStringConvertible {
        public let name: String
        public let host: String
        public let clientPort: Int
        public let peerPort: Int
        public let dataDirectory: String
        public let secure: Bool
        public var clientURL: String { "\(secure ? "https" : "http")://\(host):\(clientPort)" }
        public var peerURL: String { "http://\(host):\(peerPort)" }
        public var endpoint: DatastoreEndpoint { DatastoreEndpoint(host: host, port: clientPort) }
        public var description: String { "\(name) (\(clientURL))" }
    }

    /// Where the members run: on this host, or in a lab namespace.
    public enum Placement: Sendable {
        case host
        case lab(Lab, LabNamespace)
    }

    public let members: [Member]
    public let placement: Placement
    /// TLS on the client port, with client certificates required (`--client-cert-auth`).
    public let tls: TLSFiles?
    private let directory: String
    private let processes: Locked<[String: LabProcess]>
    public static let executable = "/usr/bin/etcd"

    /// `etcd://` for every member, for `--datastore`.
    public var datastoreURL: String { "etcd://" + members.map(\.endpoint.description).joined(separator: ",") }
    public var endpoints: [DatastoreEndpoint] { members.map(\.endpoint) }

    /// Whether etcd and etcdctl are installed (scripts/install-deps.sh installs them).
    public static var isInstalled: Bool {
        FileManager.default.isExecutableFile(atPath: executable) && FileManager.default.isExecutableFile(atPath: "/usr/bin/etcdctl")
    }

    /// Starts `size` members forming one cluster and waits until every one is healthy.
    /// `host` is the address they listen on: 127.0.0.1 on this host, or an address the given
    /// namespace holds. Ports: free loopback ports on the host; 2379/2380 + 10·i in a lab.
    /// The data directories go into a new directory under `parentDirectory` (default: the
    /// system's temporary directory), removed by ``stop()``.
    public static func start(size: Int = 1, placement: Placement = .host, host: String = "127.0.0.1",
                             parentDirectory: String = NSTemporaryDirectory(), tls: TLSFiles? = nil,
                             timeout: Duration = LabTime.scaled(.seconds(30))) throws(MeshError) -> EtcdCluster {
        guard isInstalled else {
            throw MeshError(.unsupported, "etcd is not installed (Debian: apt-get install etcd-server etcd-client)")
        }
        guard (1...7).contains(size) else { throw MeshError(.invalidArgument, "an etcd cluster has 1 to 7 members, not \(size)") }
        var template = Array((parentDirectory + "/meshguard-etcd-XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else { throw MeshError(.internalError, "mkdtemp for etcd failed", errno: errno) }
        let directory = String(cString: created)
        let tag = URL(fileURLWithPath: directory).lastPathComponent.replacingOccurrences(of: "meshguard-etcd-", with: "")
        var members: [Member] = []
        do {
            for i in 0..<size {
                let (client, peer): (Int, Int)
                switch placement {
                case .host: (client, peer) = (try freePort(host), try freePort(host))
                case .lab: (client, peer) = (labClientPort(member: i), 2380 + 10 * i)
                }
                members.append(Member(name: "mg-\(tag)-\(i + 1)", host: host, clientPort: client, peerPort: peer,
                                      dataDirectory: "\(directory)/member-\(i + 1)", secure: tls != nil))
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        let cluster = EtcdCluster(members: members, placement: placement, tls: tls, directory: directory)
        do {
            for member in members { try cluster.launch(member, state: "new") }
            for member in members { try cluster.waitHealthy(member, timeout: timeout) }
        } catch {
            cluster.stop()
            throw error
        }
        return cluster
    }

    private init(members: [Member], placement: Placement, tls: TLSFiles?, directory: String) {
        self.members = members
        self.placement = placement
        self.tls = tls
        self.directory = directory
        processes = Locked([:])
    }

    private func arguments(_ member: Member, state: String) -> [String] {
        let initial = members.map { "\($0.name)=\($0.peerURL)" }.joined(separator: ",")
        return [Self.executable, "--name", member.name, "--data-dir", member.dataDirectory,
                "--listen-client-urls", member.clientURL, "--advertise-client-urls", member.clientURL,
                "--listen-peer-urls", member.peerURL, "--initial-advertise-peer-urls", member.peerURL,
                "--initial-cluster", initial, "--initial-cluster-state", state,
                "--initial-cluster-token", "meshguard-\(URL(fileURLWithPath: directory).lastPathComponent)",
                // Quick elections: the fault tests kill leaders.
                "--heartbeat-interval", "\(Int(100 * LabTime.scale))", "--election-timeout", "\(Int(1000 * LabTime.scale))",
                "--logger", "zap", "--log-level", "warn"]
            + (tls.map { ["--cert-file", $0.certificate, "--key-file", $0.key, "--trusted-ca-file", $0.ca, "--client-cert-auth"] } ?? [])
    }

    private func launch(_ member: Member, state: String) throws(MeshError) {
        let log = "\(directory)/\(member.name).log"
        let argv = arguments(member, state: state)
        let process: LabProcess
        switch placement {
        case .host:
            let pid = try Subprocess.spawn(argv, environment: ["ETCD_UNSUPPORTED_ARCH": ""], output: .logFile(log))
            process = LabProcess(pid: pid, arguments: argv, namespace: LabNamespace(name: "host", mountNamespacePath: nil), logFile: log)
        case .lab(let lab, let namespace):
            process = try lab.spawn(in: namespace, argv, logFile: log)
        }
        processes.withLock { $0[member.name] = process }
    }

    /// The running process of `member`, if any.
    public func process(_ member: Member) -> LabProcess? {
        processes.withLock { $0[member.name] }.flatMap { $0.isRunning ? $0 : nil }
    }

    /// Waits until `member`'s own process listens on its client port and reports healthy.
    public func waitHealthy(_ member: Member, timeout: Duration = LabTime.scaled(.seconds(30))) throws(MeshError) {
        let deadline = ContinuousClock.now + timeout
        var last = "not started"
        while ContinuousClock.now < deadline {
            guard let process = processes.withLock({ $0[member.name] }) else { break }
            if let status = process.termination {
                throw MeshError(.unavailable, "etcd \(member) exited (\(status)) before it was healthy: \(String(process.log().suffix(1500)))")
            }
            if listens(pid: process.pid, port: member.clientPort) {
                let health = etcdctl(["--endpoints", member.clientURL, "endpoint", "health"], timeout: .seconds(5))
                if health.succeeded { return }
                last = health.stderr.isEmpty ? health.stdout : health.stderr
            } else {
                last = "pid \(process.pid) does not listen on port \(member.clientPort) yet"
            }
            usleep(100_000)
        }
        throw MeshError(.timeout, "etcd \(member) not healthy within \(timeout): \(last)")
    }

    /// Whether process `pid` holds a listening TCP socket on `port` (in the member's namespace).
    private func listens(pid: pid_t, port: Int) -> Bool {
        let argv = ["ss", "-Hltnp", "sport = :\(port)"]
        guard let result = try? run(argv, timeout: .seconds(5)), result.succeeded else { return false }
        return result.stdout.contains("pid=\(pid),")
    }

    private func run(_ argv: [String], timeout: Duration) throws(MeshError) -> CommandResult {
        switch placement {
        case .host:
            var resolved = argv
            if !argv[0].hasPrefix("/") { resolved[0] = "/usr/bin/\(argv[0])" }
            return try Subprocess.run(resolved, timeout: timeout)
        case .lab(let lab, let namespace):
            return try lab.run(in: namespace, argv, timeout: timeout)
        }
    }

    /// Runs etcdctl (v3 API) where the members run; failures are results.
    public func etcdctl(_ arguments: [String], timeout: Duration = LabTime.scaled(.seconds(10))) -> CommandResult {
        let credentials = tls.map { ["--cacert", $0.ca, "--cert", $0.certificate, "--key", $0.key] } ?? []
        return (try? run(["etcdctl"] + credentials + arguments, timeout: timeout))
            ?? CommandResult(arguments: arguments, status: .exited(127), stdout: "", stderr: "etcdctl could not be run")
    }

    /// The member that is the raft leader now: the leader id the running members report,
    /// mapped to a member through `etcdctl member list` (a member that is slow to answer its
    /// own status is still found). Retries for a few seconds during an election.
    public func leader(timeout: Duration = LabTime.scaled(.seconds(10))) throws(MeshError) -> Member {
        struct Status: Decodable {
            struct Body: Decodable { let leader: UInt64 }
            let Status: Body
        }
        struct MemberList: Decodable {
            struct Entry: Decodable { let ID: UInt64; let clientURLs: [String]? }
            let members: [Entry]
        }
        let deadline = ContinuousClock.now + timeout
        var last = ""
        repeat {
            let endpoints = members.filter { process($0) != nil }.map(\.clientURL).joined(separator: ",")
            // JSONDecoder, not JSONSerialization: member ids use all 64 bits and must not pass
            // through a Double.
            let status = etcdctl(["--endpoints", endpoints, "endpoint", "status", "-w", "json"])
            let list = etcdctl(["--endpoints", endpoints, "member", "list", "-w", "json"])
            if let statuses = try? JSONDecoder().decode([Status].self, from: Data(status.stdout.utf8)),
               let leaderID = statuses.map(\.Status.leader).first(where: { $0 != 0 }),
               let entries = try? JSONDecoder().decode(MemberList.self, from: Data(list.stdout.utf8)),
               let urls = entries.members.first(where: { $0.ID == leaderID })?.clientURLs,
               let member = members.first(where: { urls.contains($0.clientURL) }) {
                // Until a new election ends, followers still name a leader that is gone.
                if process(member) != nil { return member }
            }
            last = "\(status.stdout) \(status.stderr) \(list.stderr)"
            usleep(200_000)
        } while ContinuousClock.now < deadline
        throw MeshError(.unavailable, "no etcd leader found within \(timeout): \(last)")
    }

    /// Kills `member` with `signal` (SIGKILL: a crash) and waits for it to exit.
    public func kill(_ member: Member, signal: Int32 = SIGKILL) {
        guard let process = processes.withLock({ $0[member.name] }) else { return }
        process.signal(signal)
        if process.wait(timeout: .seconds(10)) == nil { process.kill() }
    }

    /// Starts a stopped `member` again on its data directory (it rejoins the cluster). It
    /// becomes healthy only with a quorum: to restart several, use ``restart(_:)-([Member])``.
    public func restart(_ member: Member, timeout: Duration = LabTime.scaled(.seconds(30))) throws(MeshError) {
        try restart([member], timeout: timeout)
    }

    /// Starts the stopped ones of `members` again, all at once (a cluster without quorum
    /// needs them together), and waits until each is healthy.
    public func restart(_ members: [Member], timeout: Duration = LabTime.scaled(.seconds(30))) throws(MeshError) {
        let stopped = members.filter { process($0) == nil }
        for member in stopped { try launch(member, state: "existing") }
        for member in stopped { try waitHealthy(member, timeout: timeout) }
    }

    /// The members' logs, for failure messages.
    public func logs(lines: Int = 30) -> String {
        members.map { member in
            let log = processes.withLock { $0[member.name] }?.log() ?? ""
            return "── etcd \(member.name) ──\n" + log.split(separator: "\n").suffix(lines).joined(separator: "\n")
        }.joined(separator: "\n")
    }

    /// Kills every member and removes the data directories. Safe to call twice.
    public func stop() {
        for process in processes.withLock({ Array($0.values) }) { process.kill() }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// The client port of member `i` (from 0) in a lab: 2379, 2389, 2399…
    public static func labClientPort(member i: Int) -> Int { 2379 + 10 * i }

    /// A TCP port on `host` that nobody listens on right now (the kernel's pick).
    static func freePort(_ host: String) throws(MeshError) -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MeshError(.internalError, "socket for a free port", errno: errno) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        inet_pton(AF_INET, host, &address.sin_addr)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw MeshError(.internalError, "bind for a free port on \(host)", errno: errno) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
