/// Where each record lives in the datastore. One writer per prefix:
///
/// | key                         | writer      | lease            |
/// |-----------------------------|-------------|------------------|
/// | `config`                    | CLI         | –                |
/// | `pools`                     | controller  | –                |
/// | `claims/<node>`             | that agent  | the agent's      |
/// | `status/<node>`             | that agent  | the agent's      |
/// | `peers/<node>`              | controller  | –                |
/// | `verdicts/<node>`           | controller  | –                |
/// | `removals/<node>`           | CLI         | –                |
/// | `controller/leader`         | controller  | the leader's     |
public enum StoreKeys {
    public static let root = "/meshguard/v1/"
    public static let config = root + "config"
    public static let pools = root + "pools"
    public static let leader = root + "controller/leader"

    public static let claimsPrefix = root + "claims/"
    public static let statusPrefix = root + "status/"
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
