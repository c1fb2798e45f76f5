/// The benchmark to run, from the first argument (`all` when there is none or it is a flag).
enum Mode: String {
    case wireguard, kernel, agent, store, convergence, cluster, all
    /// Hidden: one writer process of the `store` benchmark, started by the benchmark itself.
    case storeWriter = "store-writer"
    /// Hidden: the measuring side of `cluster`, started by it in the lab's fabric namespace.
    case clusterProbe = "cluster-probe"
}

let usage = """
    usage: meshguard-bench [all|wireguard|kernel|agent|store] [options]   (run as root)
      wireguard  [--peers N] [--runs N]      agent's backend vs `wg setconf`, one-peer change, no-op re-sync
      kernel     [--peers N] [--runs N]      the same with kernel WireGuard (needs the module;
                                             make kernel-bench runs it in the QEMU VM)
      agent      [--peers N] [--meshguard PATH] [--changes N] [--idle-seconds S] [--agent-log-level L]
                                             the real `meshguard agent` programming N peers from the store
      convergence [--agents N] [--datastore etcd|sqlite] [--changes N] [--meshguard PATH]
                                             new key → applied by all N agents (agent loop in-process,
                                             data plane left out), controller CPU, etcd request rate
      cluster    [--agents N] [--datastore etcd|sqlite] [--changes N] [--meshguard PATH]
                                             the same with N real `meshguard agent` processes, each in
                                             a lab namespace with wireguard-go (N + changes ≤ 240)
      store      [--writes N] [--interval-ms M] [--writers K]
                                             cross-process watch latency of the SQLite datastore
      all        wireguard, agent and store with every option above, one summary (default)
    defaults: --peers 5000 --runs 3 --changes 5 --idle-seconds 30 --agent-log-level warning
              --writes 200 --interval-ms 50 --writers 4
    """

/// Command-line options of every mode; each mode accepts only its own flags.
struct Options {
    var mode = Mode.all
    /// wireguard, agent: peers in the mesh.
    var peers = 5000
    /// wireguard: runs of each measurement.
    var runs = 3
    /// agent: the `meshguard` executable (default: beside this one).
    var meshguard: String?
    /// agent: one-peer changes made through the store; convergence: new keys published.
    var changes = 5
    /// convergence: agents in the cluster, and the datastore they share.
    var agents = 100
    var datastore = ConvergenceBenchmark.Store.etcd
    /// agent: length of the idle window (default: one resync interval of the agent).
    var idleSeconds = 30
    /// agent: the agent's --log-level; `info` logs each reconcile pass with its duration.
    var agentLogLevel = "warning"
    /// store, store-writer: values each writer puts.
    var writes = 200
    /// store, store-writer: pause between a writer's puts, in milliseconds (0: flat out).
    var intervalMilliseconds = 50
    /// store: writers of the flat-out round.
    var writers = 4
    /// store-writer: the datastore file and the key prefix to write under.
    var database = ""
    var prefix = ""
    /// cluster-probe: the datastore URL and the controller's pid.
    var url = ""
    var controllerPID = ""
    var startedAt = 0.0

    private static let flags: [Mode: Set<String>] = [
        .wireguard: ["--peers", "--runs"],
        .kernel: ["--peers", "--runs"],
        .convergence: ["--agents", "--datastore", "--changes", "--meshguard"],
        .cluster: ["--agents", "--datastore", "--changes", "--meshguard"],
        .clusterProbe: ["--url", "--agents", "--changes", "--controller-pid", "--started-at"],
        .agent: ["--peers", "--meshguard", "--changes", "--idle-seconds", "--agent-log-level"],
        .store: ["--writes", "--interval-ms", "--writers"],
        .all: ["--peers", "--runs", "--meshguard", "--changes", "--idle-seconds", "--agent-log-level",
               "--writes", "--interval-ms", "--writers"],
        .storeWriter: ["--db", "--prefix", "--writes", "--interval-ms"],
    ]

    init(_ arguments: [String]) throws {
        var rest = arguments[...]
        if let first = rest.first, !first.hasPrefix("-") {
            guard let mode = Mode(rawValue: first) else { throw BenchError("unknown mode '\(first)'\n\(usage)") }
            self.mode = mode
            rest = rest.dropFirst()
        }
        while let flag = rest.popFirst() {
            if flag == "--help" || flag == "-h" { throw HelpRequested() }
            guard Self.flags[mode]!.contains(flag) else {
                throw BenchError("\(flag) is not an option of mode '\(mode.rawValue)'\n\(usage)")
            }
            guard let text = rest.popFirst() else { throw BenchError("\(flag) needs a value") }
            switch flag {
            case "--meshguard": meshguard = text
            case "--datastore":
                guard let store = ConvergenceBenchmark.Store(rawValue: text) else { throw BenchError("--datastore is etcd or sqlite, not '\(text)'") }
                datastore = store
            case "--agent-log-level": agentLogLevel = text
            case "--db": database = text
            case "--prefix": prefix = text
            case "--url": url = text
            case "--controller-pid": controllerPID = text
            case "--started-at":
                guard let value = Double(text) else { throw BenchError("--started-at needs seconds since 1970, not '\(text)'") }
                startedAt = value
            default:
                let minimum = flag == "--interval-ms" ? 0 : 1
                guard let value = Int(text), value >= minimum else {
                    throw BenchError("\(flag) needs a number of at least \(minimum), not '\(text)'")
                }
                switch flag {
                case "--peers":
                    guard value <= 65_000 else { throw BenchError("--peers is at most 65000 (one address plan per peer)") }
                    peers = value
                case "--runs": runs = value
                case "--agents":
                    guard value >= 2 && value <= 5000 else { throw BenchError("--agents is 2 to 5000") }
                    agents = value
                case "--changes":
                    guard value <= 200 else { throw BenchError("--changes is at most 200") }
                    changes = value
                case "--idle-seconds": idleSeconds = value
                case "--writes": writes = value
                case "--interval-ms": intervalMilliseconds = value
                case "--writers":
                    guard value <= 64 else { throw BenchError("--writers is at most 64") }
                    writers = value
                default: throw BenchError("unhandled option \(flag)")
                }
            }
        }
        if mode == .storeWriter && (database.isEmpty || prefix.isEmpty) {
            throw BenchError("store-writer needs --db PATH and --prefix P")
        }
    }
}

/// `--help`: print the usage and exit 0.
struct HelpRequested: Error {}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
