import EtcdAPI
import Foundation
import GRPCCore
import MeshCore
import SwiftProtobuf

/// The ``Datastore`` on an etcd v3 cluster, over etcd's gRPC API.
///
/// Every operation maps onto one etcd request: get and list are `Range` (linearizable), put is
/// `Put`, delete `DeleteRange`, a transaction one `Txn` (see ``encodeTransaction(_:)``), leases
/// `LeaseGrant`/`LeaseKeepAlive`/`LeaseRevoke`, compaction `Compact`. A watch is a `Watch`
/// stream that resumes after the last delivered revision when the stream drops (another
/// member, the same member after a restart) and ends with `.compacted` when etcd no longer has
/// that history.
///
/// Errors are ``MeshError``s as the ``Datastore`` protocol lists them; etcd's own failures
/// keep etcd's message. `.unavailable` covers every connection failure and an etcd without a
/// leader: callers retry. `.permissionDenied` when etcd's auth refuses the user (a node's
/// credentials writing another node's claim).
public final class EtcdDatastore: Datastore {
    let connection: EtcdConnection
    private var endpoints: String { connection.configuration.endpointList }

    /// Sets up the client; connects on first use. Errors: `.invalidArgument` for a TLS file
    /// that cannot be read or endpoints that cannot be combined, `.unavailable` for a host
    /// name that does not resolve.
    public init(configuration: EtcdConfiguration) throws(MeshError) {
        connection = try EtcdConnection(configuration)
    }

    /// Ends the connections; watches end with `.unavailable`.
    public func close() {
        connection.close()
    }

    var kv: Etcdserverpb_KV.Client<EtcdConnection.Transport> { Etcdserverpb_KV.Client(wrapping: connection.client) }
    var leases: Etcdserverpb_Lease.Client<EtcdConnection.Transport> { Etcdserverpb_Lease.Client(wrapping: connection.client) }

    public func get(_ key: String) async throws -> KeyValue? {
        try DatastoreLimits.check(key: key)
        let options = connection.options
        let response = try await connection.call("get \(key)") { metadata in
            try await kv.range(.with { $0.key = Data(key.utf8) }, metadata: metadata, options: options)
        }
        return response.kvs.first.map(decodeKeyValue)
    }

    public func list(prefix: String) async throws -> Listing {
        let start = Array(prefix.utf8)
        let options = connection.options
        let response = try await connection.call("list \(prefix)") { metadata in
            try await kv.range(.with {
                $0.key = Data(start.isEmpty ? [0] : start)
                $0.rangeEnd = Data(prefixRangeEnd(start))
            }, metadata: metadata, options: options)
        }
        // etcd sorts a range by key (byte order), as the protocol asks.
        return Listing(items: response.kvs.map(decodeKeyValue), revision: response.header.revision)
    }

    @discardableResult
    public func put(_ key: String, value: [UInt8], lease: LeaseID?) async throws -> Revision {
        try DatastoreLimits.check(key: key)
        try DatastoreLimits.check(value: value, key: key)
        let options = connection.options
        let response = try await connection.call("put \(key)") { metadata in
            try await kv.put(.with {
                $0.key = Data(key.utf8)
                $0.value = Data(value)
                $0.lease = lease?.rawValue ?? 0
            }, metadata: metadata, options: options)
        }
        return response.header.revision
    }

    @discardableResult
    public func delete(_ key: String) async throws -> Bool {
        try DatastoreLimits.check(key: key)
        let options = connection.options
        let response = try await connection.call("delete \(key)") { metadata in
            try await kv.deleteRange(.with { $0.key = Data(key.utf8) }, metadata: metadata, options: options)
        }
        return response.deleted > 0
    }

    public func commit(_ transaction: Transaction) async throws -> TransactionResult {
        try DatastoreLimits.check(transaction)
        let request = encodeTransaction(transaction)
        let options = connection.options
        let first = transaction.compares.first?.key ?? transaction.success.first?.key ?? "(empty)"
        let response = try await connection.call("transaction on \(first)") { metadata in
            try await kv.txn(request, metadata: metadata, options: options)
        }
        return TransactionResult(succeeded: response.succeeded, revision: response.header.revision)
    }

    public func grantLease(ttl: Int64) async throws -> Lease {
        try DatastoreLimits.check(ttl: ttl)
        let options = connection.options
        let response = try await connection.call("granting a lease of \(ttl) s") { metadata in
            try await leases.leaseGrant(.with { $0.ttl = ttl }, metadata: metadata, options: options)
        }
        guard response.error.isEmpty else {
            throw MeshError(.backendFailure, "etcd \(endpoints): granting a lease of \(ttl) s: \(response.error)")
        }
        return Lease(id: LeaseID(response.id), ttl: response.ttl)
    }

    /// One round trip on a `LeaseKeepAlive` stream, as `etcdctl lease keep-alive --once`: etcd
    /// answers TTL 0 for a lease it does not know (expired or revoked).
    @discardableResult
    public func keepAlive(_ lease: LeaseID) async throws -> Int64 {
        let options = connection.options
        let response = try await connection.call("keeping lease \(lease) alive") { metadata in
            try await leases.leaseKeepAlive(metadata: metadata, options: options) { writer in
                try await writer.write(.with { $0.id = lease.rawValue })
            } onResponse: { response in
                for try await message in response.messages { return message }
                throw RPCError(code: .unavailable, message: "the keep-alive stream ended without an answer")
            }
        }
        guard response.ttl > 0 else {
            throw MeshError(.leaseNotFound, "etcd \(endpoints): lease \(lease) has expired or was revoked")
        }
        return response.ttl
    }

    public func revoke(_ lease: LeaseID) async throws {
        let options = connection.options
        do {
            _ = try await connection.call("revoking lease \(lease)") { metadata in
                try await leases.leaseRevoke(.with { $0.id = lease.rawValue }, metadata: metadata, options: options)
            }
        } catch let error as MeshError where error.code == .leaseNotFound {
            // Revoking an unknown lease is not an error (the protocol's rule).
        }
    }

    public func compact(upTo revision: Revision) async throws {
        let options = connection.options
        do {
            _ = try await connection.call("compacting up to revision \(revision)") { metadata in
                try await kv.compact(.with {
                    $0.revision = revision
                    $0.physical = true
                }, metadata: metadata, options: options)
            }
        } catch let error as MeshError where error.code == .compacted {
            // At or below the current compaction point: nothing left to do.
        }
    }

    public func currentRevision() async throws -> Revision {
        let options = connection.options
        // Any linearizable range reports the store's revision in its header; counting one
        // key reads nothing.
        let response = try await connection.call("reading the revision") { metadata in
            try await kv.range(.with {
                $0.key = Data("/".utf8)
                $0.countOnly = true
            }, metadata: metadata, options: options)
        }
        return response.header.revision
    }

    public func watch(prefix: String, from revision: Revision) -> AsyncThrowingStream<WatchBatch, any Error> {
        EtcdWatch(connection: connection, prefix: prefix, from: revision).stream()
    }
}
