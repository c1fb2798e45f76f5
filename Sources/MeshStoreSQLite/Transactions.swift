import Foundation
import GRDB
import MeshCore

/// etcd's Txn over the log: compares read the state before the transaction, then one branch's
/// operations are appended at one new revision.
enum Transactions {
    /// Applies `transaction`, already validated, inside the caller's write transaction.
    /// - Throws: `.leaseNotFound` when a put names a lease that does not exist or has expired;
    ///   the caller's transaction then rolls back, writing nothing.
    static func apply(_ transaction: Transaction, writer: inout LogWriter, now: Timestamp) throws -> TransactionResult {
        let db = writer.db
        let succeeded = try transaction.compares.allSatisfy { try holds($0, db: db) }
        for operation in succeeded ? transaction.success : transaction.failure {
            switch operation {
            case .put(let key, let value, let lease):
                if let lease {
                    try Leases.requireActive(lease, db: writer.db, now: now)
                }
                try writer.put(Data(key.utf8), value: Data(value), lease: lease?.rawValue ?? 0)
            case .delete(let key):
                _ = try writer.delete(Data(key.utf8))
            }
        }
        return TransactionResult(succeeded: succeeded, revision: writer.revision)
    }

    /// Whether `compare` holds now. As in etcd, a missing key has mod and create revision 0, so
    /// `.modRevision(0)` and `.createRevision(0)` mean "absent".
    static func holds(_ compare: Compare, db: Database) throws -> Bool {
        let row = try LogStore.live(db, name: Data(compare.key.utf8))
        switch compare.condition {
        case .absent: return row == nil
        case .present: return row != nil
        case .modRevision(let revision): return (row?.revision ?? 0) == revision
        case .createRevision(let revision): return (row?.createRevision ?? 0) == revision
        }
    }
}
