import GRPCCore
import MeshCore

/// Translation of gRPC failures from etcd into ``MeshError`` at the adapter's boundary, by the
/// status code and, where one code covers several cases, by etcd's fixed message text
/// (`etcdserver: requested lease not found`, `etcdserver: mvcc: required revision has been
/// compacted`, …). Every message names the operation and the endpoints.
func translateEtcdError(_ error: any Error, while operation: String, endpoints: String) -> any Error {
    if error is MeshError || error is CancellationError { return error }
    guard let rpc = error as? RPCError else {
        return MeshError(.backendFailure, "etcd \(endpoints): \(operation): \(error)")
    }
    let reason = rpc.message.isEmpty ? "\(rpc.code)" : rpc.message
    let text = "etcd \(endpoints): \(operation): \(reason)"
    if reason.contains("user name is empty") {
        // A request without a token on an etcd with auth on (etcd says InvalidArgument).
        return MeshError(.permissionDenied, text + " (etcd has authentication on: give --etcd-user and a password)")
    }
    switch rpc.code {
    case .unavailable, .deadlineExceeded, .aborted:
        return MeshError(.unavailable, text)
    case .notFound where reason.contains("lease not found"):
        return MeshError(.leaseNotFound, text)
    case .outOfRange where reason.contains("compacted"):
        return MeshError(.compacted, text)
    case .outOfRange where reason.contains("future revision"):
        return MeshError(.invalidArgument, text)
    case .invalidArgument, .outOfRange:
        return MeshError(.invalidArgument, text)
    case .permissionDenied, .unauthenticated:
        return MeshError(.permissionDenied, text)
    case .cancelled:
        return MeshError(.cancelled, text)
    default:
        // etcd answers "no leader" and "leader changed" with Unavailable, but some versions
        // use Unknown for transient raft states: those are worth a retry too.
        if reason.contains("leader changed") || reason.contains("no leader") || reason.contains("timed out") {
            return MeshError(.unavailable, text)
        }
        return MeshError(.backendFailure, text)
    }
}
