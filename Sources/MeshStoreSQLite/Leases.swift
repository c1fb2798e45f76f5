import Foundation
import GRDB
import MeshCore

/// Real leases (unlike kine's, whose "lease id" is the TTL and which cannot be kept alive): a
/// row per lease with its wall-clock expiry, renewed by keep-alives. Any process sharing the
/// file may reap an expired lease; each reap runs in a write transaction that re-reads which
/// leases have expired, so a second reaper racing the first finds nothing left to do.
enum Leases {
    /// Most leases reaped in one write transaction, so that the write lock is never held long.
    static let reapBatch = 64

    static func grant(ttl: Int64, db: Database, now: Timestamp) throws -> Lease {
        // Random ids, as etcd's, so that processes granting at once never collide (a collision
        // among 2^63 ids is retried anyway). 0 means "no lease" in the log.
        var id = Int64.random(in: 1...Int64.max)
        while try Bool.fetchOne(db, sql: "SELECT 1 FROM leases WHERE id = ?", arguments: [id]) != nil {
            id = Int64.random(in: 1...Int64.max)
        }
        try db.execute(sql: "INSERT INTO leases (id, ttl, expires_at) VALUES (?, ?, ?)",
                       arguments: [id, ttl, now.seconds + Double(ttl)])
        return Lease(id: LeaseID(id), ttl: ttl)
    }

    /// Throws `.leaseNotFound` unless `lease` exists and has not expired at `now`.
    static func requireActive(_ lease: LeaseID, db: Database, now: Timestamp) throws {
        let expiresAt = try Double.fetchOne(db, sql: "SELECT expires_at FROM leases WHERE id = ?",
                                            arguments: [lease.rawValue])
        guard let expiresAt, expiresAt > now.seconds else {
            throw MeshError(.leaseNotFound, "lease \(lease) not found or expired")
        }
    }

    enum Renewal: Sendable {
        case renewed(ttl: Int64)
        case notFound
    }

    /// Extends `lease` to `now + ttl`. A lease found expired is reaped on the spot (its keys
    /// deleted) so that the caller's `.leaseNotFound` and the keys' disappearance agree.
    static func renew(_ lease: LeaseID, writer: inout LogWriter, now: Timestamp) throws -> Renewal {
        let row = try Row.fetchOne(writer.db, sql: "SELECT ttl, expires_at FROM leases WHERE id = ?",
                                   arguments: [lease.rawValue])
        guard let row else { return .notFound }
        let ttl: Int64 = row[0]
        let expiresAt: Double = row[1]
        guard expiresAt > now.seconds else {
            try revoke(lease.rawValue, writer: &writer)
            return .notFound
        }
        try writer.db.execute(sql: "UPDATE leases SET expires_at = ? WHERE id = ?",
                              arguments: [now.seconds + Double(ttl), lease.rawValue])
        return .renewed(ttl: ttl)
    }

    /// Deletes the keys whose current value is attached to `id` (tombstones at one new revision)
    /// and the lease. Keys re-put since without this lease are not attached to it any more, so
    /// they stay. An unknown id deletes nothing.
    static func revoke(_ id: Int64, writer: inout LogWriter) throws {
        let names = try Data.fetchAll(writer.db, sql: "SELECT name FROM live WHERE lease = ? ORDER BY name",
                                      arguments: [id])
        for name in names {
            _ = try writer.delete(name)
        }
        writer.endRevision()
        try writer.db.execute(sql: "DELETE FROM leases WHERE id = ?", arguments: [id])
    }

    /// Whether some lease has expired at `now`: a cheap read, so that idle reapers never take
    /// the write lock.
    static func anyExpired(db: Database, now: Timestamp) throws -> Bool {
        try Bool.fetchOne(db, sql: "SELECT 1 FROM leases WHERE expires_at <= ? LIMIT 1",
                          arguments: [now.seconds]) != nil
    }

    /// Revokes leases expired at `now`, oldest first, each at its own revision. Returns how many.
    static func reapExpired(writer: inout LogWriter, now: Timestamp) throws -> Int {
        let ids = try Int64.fetchAll(writer.db, sql: """
            SELECT id FROM leases WHERE expires_at <= ? ORDER BY expires_at, id LIMIT ?
            """, arguments: [now.seconds, reapBatch])
        for id in ids {
            try revoke(id, writer: &writer)
        }
        return ids.count
    }
}
