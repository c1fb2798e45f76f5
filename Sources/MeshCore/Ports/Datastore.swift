/// A datastore revision. Every write to the store gets the next revision; revisions only grow.
public typealias Revision = Int64

/// Identifies a lease: keys attached to it vanish when it expires or is revoked.
public struct LeaseID: Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int64
    public init(_ rawValue: Int64) { self.rawValue = rawValue }
    public var description: String { String(rawValue, radix: 16) }
}

public struct Lease: Hashable, Sendable {
    public let id: LeaseID
    /// Granted time to live, in seconds.
    public let ttl: Int64
    public init(id: LeaseID, ttl: Int64) {
        self.id = id
        self.ttl = ttl
    }
}

/// One key's current value and its place in history, with etcd's meaning for each revision.
public struct KeyValue: Hashable, Sendable {
    public var key: String
    public var value: [UInt8]
    /// The revision that created this key (since its last deletion).
    public var createRevision: Revision
    /// The revision of the last write to this key.
    public var modRevision: Revision
    /// Number of writes since creation (1 = just created).
    public var version: Int64
    public var lease: LeaseID?

    public init(key: String, value: [UInt8], createRevision: Revision, modRevision: Revision, version: Int64, lease: LeaseID?) {
        self.key = key
        self.value = value
        self.createRevision = createRevision
        self.modRevision = modRevision
        self.version = version
        self.lease = lease
    }
}

/// The result of a prefix list: the live keys, sorted by key, and the revision they were read at.
/// A watch from `revision + 1` continues exactly where the list left off.
public struct Listing: Sendable, Equatable {
    public var items: [KeyValue]
    public var revision: Revision
    public init(items: [KeyValue], revision: Revision) {
        self.items = items
        self.revision = revision
    }
}

public enum WatchEvent: Hashable, Sendable {
    case put(KeyValue)
    /// The key was deleted (explicitly or by lease expiry) at `revision`.
    case delete(key: String, revision: Revision)

    public var key: String {
        switch self {
        case .put(let kv): kv.key
        case .delete(let key, _): key
        }
    }

    public var revision: Revision {
        switch self {
        case .put(let kv): kv.modRevision
        case .delete(_, let revision): revision
        }
    }
}

/// Events delivered together, in revision order, with no revision skipped for the watched prefix.
public struct WatchBatch: Sendable, Equatable {
    public var events: [WatchEvent]
    public init(events: [WatchEvent]) { self.events = events }
}

/// A condition of a ``Transaction``.
public struct Compare: Hashable, Sendable {
    public enum Condition: Hashable, Sendable {
        /// The key does not exist.
        case absent
        /// The key exists (with any value).
        case present
        /// The key's last write was at this revision.
        case modRevision(Revision)
        /// The key was created at this revision (a fencing token: survives updates, not re-creation).
        case createRevision(Revision)
    }
    public var key: String
    public var condition: Condition
    public init(_ key: String, _ condition: Condition) {
        self.key = key
        self.condition = condition
    }
}

public enum TransactionOperation: Hashable, Sendable {
    case put(key: String, value: [UInt8], lease: LeaseID?)
    case delete(key: String)
}

/// An atomic if-then-else, as etcd's Txn: if every compare holds, the `success` operations are
/// applied at one new revision; otherwise the `failure` ones (often none).
public struct Transaction: Hashable, Sendable {
    public var compares: [Compare]
    public var success: [TransactionOperation]
    public var failure: [TransactionOperation]
    public init(compares: [Compare], success: [TransactionOperation], failure: [TransactionOperation] = []) {
        self.compares = compares
        self.success = success
        self.failure = failure
    }
}

public struct TransactionResult: Hashable, Sendable {
    public var succeeded: Bool
    /// The store's revision after the transaction (the new revision when something was written).
    public var revision: Revision
    public init(succeeded: Bool, revision: Revision) {
        self.succeeded = succeeded
        self.revision = revision
    }
}

/// The shared datastore, with etcd v3 semantics. Backends: embedded SQLite (default), etcd v3.
///
/// Errors are ``MeshError``s: `.unavailable` when the store cannot be reached (retry later),
/// `.compacted` when a watch asks for history that is gone (re-list, then watch again),
/// `.leaseNotFound` when a lease expired or never existed, `.invalidArgument` for an empty or
/// oversized key or value. A missing key is not an error: `get` returns nil, `delete` false.
///
/// Details every backend shares (etcd's behaviour, checked by the conformance suite):
/// - revision 1 is the empty store; a write that changes nothing takes no new revision;
/// - `watch(from:)` with 0 or less means "from the next revision";
/// - watching from the compact revision itself works, only older revisions fail `.compacted`;
///   `compact` at or below the current compact revision does nothing, beyond the current
///   revision it throws `.invalidArgument`;
/// - a transaction that writes the same key twice, or a lease TTL outside 1…9,000,000,000 s,
///   throws `.invalidArgument`; a put with an unknown or expired lease throws `.leaseNotFound`
///   and writes nothing.
public protocol Datastore: Sendable {
    /// The current value of `key`, or nil.
    func get(_ key: String) async throws -> KeyValue?

    /// Every live key starting with `prefix`, sorted by key, with the revision read at.
    func list(prefix: String) async throws -> Listing

    /// Writes `value` (creating or replacing), attached to `lease` if given; a put without a
    /// lease detaches the key from any lease. Returns the new revision.
    @discardableResult
    func put(_ key: String, value: [UInt8], lease: LeaseID?) async throws -> Revision

    /// Deletes `key`. Returns false when it did not exist.
    @discardableResult
    func delete(_ key: String) async throws -> Bool

    /// Applies a compare-and-swap transaction atomically.
    func commit(_ transaction: Transaction) async throws -> TransactionResult

    /// Changes to keys under `prefix` from `revision` on (inclusive), in revision order. The
    /// stream ends with a `.compacted` error when that history is gone, and with `.unavailable`
    /// when the store is lost; cancelling the consuming task ends the watch.
    func watch(prefix: String, from revision: Revision) -> AsyncThrowingStream<WatchBatch, any Error>

    /// Grants a lease of `ttl` seconds.
    func grantLease(ttl: Int64) async throws -> Lease

    /// Renews a lease to its full TTL. Returns the TTL; throws `.leaseNotFound` if it expired.
    @discardableResult
    func keepAlive(_ lease: LeaseID) async throws -> Int64

    /// Revokes a lease, deleting its keys now. Revoking an unknown lease is not an error.
    func revoke(_ lease: LeaseID) async throws

    /// Forgets superseded history at or below `revision`; watches from there fail `.compacted`.
    func compact(upTo revision: Revision) async throws

    /// The store's current revision.
    func currentRevision() async throws -> Revision
}

extension Datastore {
    /// Creates `key` only if it does not exist. Returns false if it did.
    public func create(_ key: String, value: [UInt8], lease: LeaseID? = nil) async throws -> Bool {
        try await commit(Transaction(compares: [Compare(key, .absent)],
                                     success: [.put(key: key, value: value, lease: lease)])).succeeded
    }

    /// Replaces `key` only if its last write was at `revision`. Returns false otherwise.
    public func update(_ key: String, value: [UInt8], ifModRevision revision: Revision, lease: LeaseID? = nil) async throws -> Bool {
        try await commit(Transaction(compares: [Compare(key, .modRevision(revision))],
                                     success: [.put(key: key, value: value, lease: lease)])).succeeded
    }

    /// Deletes `key` only if its last write was at `revision`.
    public func delete(_ key: String, ifModRevision revision: Revision) async throws -> Bool {
        try await commit(Transaction(compares: [Compare(key, .modRevision(revision))],
                                     success: [.delete(key: key)])).succeeded
    }
}

/// Limits every backend enforces, so that a bad writer cannot bloat the store, and the checks
/// of caller input every backend runs before touching its storage (so a bad request never
/// takes a lock).
public enum DatastoreLimits {
    public static let maxKeyBytes = 1024
    /// Values larger than this are refused with `.invalidArgument` (etcd's default request limit
    /// is 1.5 MiB; claims and records are a few KiB).
    public static let maxValueBytes = 1_048_576
    /// etcd's bounds on a lease TTL, in seconds.
    public static let leaseTTL: ClosedRange<Int64> = 1...9_000_000_000

    public static func check(key: String) throws(MeshError) {
        if key.isEmpty {
            throw MeshError(.invalidArgument, "datastore key is empty")
        }
        if key.utf8.count > maxKeyBytes {
            throw MeshError(.invalidArgument,
                            "datastore key of \(key.utf8.count) bytes exceeds \(maxKeyBytes) bytes: \(key.prefix(64))…")
        }
    }

    public static func check(value: [UInt8], key: String) throws(MeshError) {
        if value.count > maxValueBytes {
            throw MeshError(.invalidArgument, "value of \(value.count) bytes for \(key) exceeds \(maxValueBytes) bytes")
        }
    }

    /// Every key of every compare and operation, in both branches. A branch that names one key
    /// twice is refused, as etcd does ("duplicate key given in txn request"): otherwise the
    /// result would depend on the order of the operations inside one revision.
    public static func check(_ transaction: Transaction) throws(MeshError) {
        for compare in transaction.compares { try check(key: compare.key) }
        for branch in [transaction.success, transaction.failure] {
            var seen = Set<String>()
            for operation in branch {
                switch operation {
                case .put(let key, let value, _):
                    try check(key: key)
                    try check(value: value, key: key)
                case .delete(let key):
                    try check(key: key)
                }
                if !seen.insert(operation.key).inserted {
                    throw MeshError(.invalidArgument, "transaction writes \(operation.key) twice")
                }
            }
        }
    }

    public static func check(ttl: Int64) throws(MeshError) {
        guard leaseTTL.contains(ttl) else {
            throw MeshError(.invalidArgument, "lease TTL \(ttl) s is outside 1…9000000000 s")
        }
    }
}

extension TransactionOperation {
    /// The key the operation writes.
    public var key: String {
        switch self {
        case .put(let key, _, _): key
        case .delete(let key): key
        }
    }
}
