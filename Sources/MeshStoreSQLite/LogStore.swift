import Foundation
import GRDB
import MeshCore

/// One row of the `kv` log: a put or a tombstone of one key at one revision.
struct LogRow: Sendable {
    var revision: Revision
    var name: Data
    var deleted: Bool
    var createRevision: Revision
    var version: Int64
    var lease: Int64
    var value: Data

    /// The columns `init(row:)` reads, in a query over `kv`.
    static let columns = "kv.revision, kv.name, kv.deleted, kv.create_revision, kv.version, kv.lease, kv.value"

    init(row: Row) {
        revision = row[0]
        name = row[1]
        deleted = row[2]
        createRevision = row[3]
        version = row[4]
        lease = row[5]
        value = row[6]
    }

    var key: String { String(decoding: name, as: UTF8.self) }

    var keyValue: KeyValue {
        KeyValue(key: key, value: [UInt8](value), createRevision: createRevision, modRevision: revision,
                 version: version, lease: lease == 0 ? nil : LeaseID(lease))
    }

    var event: WatchEvent {
        deleted ? .delete(key: key, revision: revision) : .put(keyValue)
    }
}

/// A key range as SQL sees it: BLOBs compare with memcmp, which is etcd's byte order.
struct KeyRange: Sendable {
    var start: Data
    /// The first byte string after every key with the prefix; nil when there is none (the empty
    /// prefix, or one of only 0xFF bytes, which UTF-8 never produces).
    var end: Data?

    init(prefix: String) {
        start = Data(prefix.utf8)
        var bytes = [UInt8](prefix.utf8)
        while let last = bytes.last, last == 0xFF { bytes.removeLast() }
        if bytes.isEmpty {
            end = nil
        } else {
            bytes[bytes.count - 1] += 1
            end = Data(bytes)
        }
    }

    func contains(_ name: Data) -> Bool { name.starts(with: start) }

    /// A SQL condition on `column`, with its arguments.
    func condition(on column: String) -> (String, StatementArguments) {
        if let end {
            return ("\(column) >= ? AND \(column) < ?", [start, end])
        }
        return ("\(column) >= ?", [start])
    }
}

/// Reads of the log. All run inside a transaction the caller opened, so that several reads see
/// one snapshot (WAL gives each read transaction the database as of its first read).
enum LogStore {
    static func revision(_ db: Database) throws -> Revision {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'revision'") ?? 1
    }

    static func compactRevision(_ db: Database) throws -> Revision {
        try Int64.fetchOne(db, sql: "SELECT value FROM meta WHERE name = 'compact_revision'") ?? 0
    }

    /// The current row of a live key, or nil if the key does not exist.
    static func live(_ db: Database, name: Data) throws -> LogRow? {
        try Row.fetchOne(db, sql: "SELECT \(LogRow.columns) FROM live JOIN kv ON kv.id = live.row WHERE live.name = ?",
                         arguments: [name]).map(LogRow.init(row:))
    }

    /// The current rows of every live key in `range`, sorted by key bytes.
    static func live(_ db: Database, in range: KeyRange) throws -> [LogRow] {
        let (condition, arguments) = range.condition(on: "live.name")
        return try Row.fetchAll(db, sql: """
            SELECT \(LogRow.columns) FROM live JOIN kv ON kv.id = live.row
            WHERE \(condition) ORDER BY live.name
            """, arguments: arguments).map(LogRow.init(row:))
    }

    /// The revision of the latest row of `name`, tombstones included, or nil if there is none.
    static func lastRevision(_ db: Database, name: Data) throws -> Revision? {
        try Int64.fetchOne(db, sql: "SELECT MAX(revision) FROM kv WHERE name = ?", arguments: [name])
    }

    /// Log rows with `from <= revision <= through`, optionally only in `range`, in revision
    /// order (and write order inside a revision).
    static func rows(_ db: Database, from: Revision, through: Revision, in range: KeyRange?) throws -> [LogRow] {
        guard from <= through else { return [] }
        var sql = "SELECT \(LogRow.columns) FROM kv WHERE revision >= ? AND revision <= ?"
        var arguments: StatementArguments = [from, through]
        if let range {
            let (condition, rangeArguments) = range.condition(on: "name")
            sql += " AND \(condition)"
            arguments += rangeArguments
        }
        sql += " ORDER BY revision, id"
        return try Row.fetchAll(db, sql: sql, arguments: arguments).map(LogRow.init(row:))
    }
}
