import EtcdAPI
import Foundation
import MeshCore
import SwiftProtobuf

/// The etcd `Txn` for a ``Transaction``. Pure: no I/O.
///
/// - `.absent` is etcd's `create_revision == 0` (a key that does not exist has revision 0),
///   `.present` is `create_revision > 0`;
/// - `.modRevision(r)` and `.createRevision(r)` compare for equality.
/// A put without a lease sends lease 0, which detaches the key from any lease, as the
/// ``Datastore`` protocol says.
func encodeTransaction(_ transaction: Transaction) -> Etcdserverpb_TxnRequest {
    Etcdserverpb_TxnRequest.with { request in
        request.compare = transaction.compares.map(encodeCompare)
        request.success = transaction.success.map(encodeOperation)
        request.failure = transaction.failure.map(encodeOperation)
    }
}

func encodeCompare(_ compare: Compare) -> Etcdserverpb_Compare {
    Etcdserverpb_Compare.with {
        $0.key = Data(compare.key.utf8)
        switch compare.condition {
        case .absent:
            $0.target = .create
            $0.result = .equal
            $0.createRevision = 0
        case .present:
            $0.target = .create
            $0.result = .greater
            $0.createRevision = 0
        case .modRevision(let revision):
            $0.target = .mod
            $0.result = .equal
            $0.modRevision = revision
        case .createRevision(let revision):
            $0.target = .create
            $0.result = .equal
            $0.createRevision = revision
        }
    }
}

func encodeOperation(_ operation: TransactionOperation) -> Etcdserverpb_RequestOp {
    Etcdserverpb_RequestOp.with {
        switch operation {
        case .put(let key, let value, let lease):
            $0.requestPut = .with {
                $0.key = Data(key.utf8)
                $0.value = Data(value)
                $0.lease = lease?.rawValue ?? 0
            }
        case .delete(let key):
            $0.requestDeleteRange = .with { $0.key = Data(key.utf8) }
        }
    }
}
