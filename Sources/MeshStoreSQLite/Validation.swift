import Foundation
import MeshCore

/// Checks of caller input against ``DatastoreLimits``, done before any database access so that a
/// bad request never takes the write lock.
enum Validation {
    static func key(_ key: String) throws(MeshError) {
        if key.isEmpty {
            throw MeshError(.invalidArgument, "datastore key is empty")
        }
        if key.utf8.count > DatastoreLimits.maxKeyBytes {
            throw MeshError(.invalidArgument,
                            "datastore key of \(key.utf8.count) bytes exceeds \(DatastoreLimits.maxKeyBytes) bytes: \(key.prefix(64))…")
        }
    }

    static func value(_ value: [UInt8], key: String) throws(MeshError) {
        if value.count > DatastoreLimits.maxValueBytes {
            throw MeshError(.invalidArgument,
                            "value of \(value.count) bytes for \(key) exceeds \(DatastoreLimits.maxValueBytes) bytes")
        }
    }

    /// Every key of every compare and operation, in both branches. A branch that names one key
    /// twice is refused, as etcd does ("duplicate key given in txn request"): otherwise the
    /// result would depend on the order of the operations inside one revision.
    static func transaction(_ transaction: Transaction) throws(MeshError) {
        for compare in transaction.compares {
            try key(compare.key)
        }
        for branch in [transaction.success, transaction.failure] {
            var seen = Set<[UInt8]>()
            for operation in branch {
                switch operation {
                case .put(let k, let v, _):
                    try key(k)
                    try value(v, key: k)
                case .delete(let k):
                    try key(k)
                }
                if !seen.insert(Array(operation.key.utf8)).inserted {
                    throw MeshError(.invalidArgument, "transaction writes \(operation.key) twice")
                }
            }
        }
    }

    static func ttl(_ ttl: Int64) throws(MeshError) {
        // etcd's bounds: at least one second, at most MaxLeaseTTL (9e9 s).
        guard (1...9_000_000_000).contains(ttl) else {
            throw MeshError(.invalidArgument, "lease TTL \(ttl) s is outside 1…9000000000 s")
        }
    }
}

extension TransactionOperation {
    var key: String {
        switch self {
        case .put(let key, _, _): key
        case .delete(let key): key
        }
    }
}
