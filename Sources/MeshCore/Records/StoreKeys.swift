/// Where each record lives in the datastore. One writer per prefix; under ``root``:
///
/// | key                         | writer      | lease            |
/// |-----------------------------|-------------|------------------|
/// | `config`                    | CLI         | –                |
/// | `pools`                     | controller  | –                |
/// | `claims/<node>`             | that agent  | the agent's      |
/// | `peers/<node>`              | controller  | –                |
/// | `verdicts/<node>`           | controller  | –                |
/// | `removals/<node>`           | CLI         | –                |
/// | `controller/leader`         | controller  | the leader's     |
///
/// and under ``statusPrefix``, outside ``root``, `<node>`: written by that agent under its lease.
///
/// Status lives outside ``root`` on purpose: every agent and the controller watch ``root``, and
/// each agent rewrites its status after every change it applies. Inside the watched prefix, one
/// key change on N nodes made N status writes, each delivered to N watchers — N² events that
/// nobody following the mesh needs (at 100 agents on etcd, that put the slowest key change
/// at 8.6 s). Only the CLI reads statuses, by listing ``all``.
public enum StoreKeys {
    /// Every Meshguard key starts with this: what the CLI lists, what a backup keeps, what the
    /// controller's and operator's datastore roles cover.
    public static let all = "/meshguard/"
    /// What agents and the controller list and watch: everything but node statuses.
    public static let root = all + "v1/"
    public static let config = root + "config"
    public static let pools = root + "pools"
    public static let leader = root + "controller/leader"

    public static let claimsPrefix = root + "claims/"
    public static let statusPrefix = all + "status/v1/"
    public static let peersPrefix = root + "peers/"
    public static let verdictsPrefix = root + "verdicts/"
    public static let removalsPrefix = root + "removals/"

    public static func claim(_ node: NodeName) -> String { claimsPrefix + node.rawValue }
    public static func status(_ node: NodeName) -> String { statusPrefix + node.rawValue }
    public static func peer(_ node: NodeName) -> String { peersPrefix + node.rawValue }
    public static func verdict(_ node: NodeName) -> String { verdictsPrefix + node.rawValue }
    public static func removal(_ node: NodeName) -> String { removalsPrefix + node.rawValue }

    /// The node name a per-node key ends with, as raw text (it may not be a valid name: a
    /// writer with store access could put anything there).
    public static func nodeSuffix(of key: String, prefix: String) -> String? {
        guard key.hasPrefix(prefix) else { return nil }
        return String(key.dropFirst(prefix.count))
    }
}
