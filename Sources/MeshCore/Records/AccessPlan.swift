/// Who may read and write which keys, for datastores that enforce it (etcd with auth on): the
/// one-writer-per-prefix table of ``StoreKeys`` as roles.
///
/// - a node's agent reads everything under ``StoreKeys/root`` (it follows config, pools and
///   peers) and writes only its own claim and status: stolen node credentials cannot overwrite
///   another node's claim, nor publish peers;
/// - the controller reads and writes every Meshguard key (``StoreKeys/all``: it is the only
///   writer of peers, verdicts and pools, and deletes what `node remove` names, status included);
/// - the operator (the CLI's `enable`, `disable`, `node remove`) does the same as the
///   controller.
public enum AccessPlan {
    public struct Permission: Hashable, Sendable, CustomStringConvertible {
        public enum Access: String, Hashable, Sendable { case read, write, readWrite = "readwrite" }
        public var key: String
        /// Whether ``key`` is a prefix (every key starting with it) rather than one key.
        public var isPrefix: Bool
        public var access: Access

        public init(key: String, isPrefix: Bool, access: Access) {
            self.key = key
            self.isPrefix = isPrefix
            self.access = access
        }

        public var description: String { "\(access.rawValue) \(key)\(isPrefix ? "*" : "")" }
    }

    public struct Role: Hashable, Sendable {
        public var name: String
        public var permissions: [Permission]
    }

    public static let controllerRole = "meshguard-controller"
    public static let controllerUser = "meshguard-controller"
    public static let operatorRole = "meshguard-operator"
    public static let operatorUser = "meshguard-operator"

    public static func nodeRole(_ node: NodeName) -> String { "meshguard-node-\(node.rawValue)" }
    public static func nodeUser(_ node: NodeName) -> String { "meshguard-node-\(node.rawValue)" }

    public static var controller: Role {
        Role(name: controllerRole, permissions: [Permission(key: StoreKeys.all, isPrefix: true, access: .readWrite)])
    }

    public static var `operator`: Role {
        Role(name: operatorRole, permissions: [Permission(key: StoreKeys.all, isPrefix: true, access: .readWrite)])
    }

    public static func node(_ node: NodeName) -> Role {
        Role(name: nodeRole(node), permissions: [
            Permission(key: StoreKeys.root, isPrefix: true, access: .read),
            Permission(key: StoreKeys.claim(node), isPrefix: false, access: .readWrite),
            Permission(key: StoreKeys.status(node), isPrefix: false, access: .readWrite),
        ])
    }
}
