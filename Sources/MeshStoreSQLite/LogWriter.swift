import Foundation
import GRDB
import MeshCore

/// Appends changes to the log inside one write transaction.
///
/// Changes share one revision until ``endRevision()``: a transaction's operations all land at
/// one revision, while the lease reaper gives each expired lease a revision of its own. A
/// revision is taken only when something changes, so a transaction that writes nothing (a
/// failed compare without else-operations, a delete of a missing key) leaves the revision as is.
struct LogWriter {
    let db: Database
    /// The store's revision when the transaction began.
    let startRevision: Revision
    /// The latest revision taken so far (``startRevision`` while nothing changed).
    private(set) var revision: Revision
    private var open = false

    /// Must be created inside a `BEGIN IMMEDIATE` transaction: the counter read here stays
    /// valid only while this transaction holds the write lock.
    init(_ db: Database) throws {
        self.db = db
        startRevision = try LogStore.revision(db)
        revision = startRevision
    }

    var changed: Bool { revision != startRevision }

    /// The next change goes into a new revision.
    mutating func endRevision() { open = false }

    private mutating func writeRevision() -> Revision {
        if !open {
            revision += 1
            open = true
        }
        return revision
    }

    /// Creates or replaces `name`. `lease` 0 detaches the key from any lease.
    mutating func put(_ name: Data, value: Data, lease: Int64) throws {
        let revision = writeRevision()
        let previous = try LogStore.live(db, name: name)
        let previousRevision = try previous?.revision ?? LogStore.lastRevision(db, name: name) ?? 0
        try db.execute(sql: """
            INSERT INTO kv (revision, name, create_revision, prev_revision, version, deleted, lease, value)
            VALUES (?, ?, ?, ?, ?, 0, ?, ?)
            """, arguments: [revision, name, previous?.createRevision ?? revision, previousRevision,
                             (previous?.version ?? 0) + 1, lease, value])
        try db.execute(sql: """
            INSERT INTO live (name, row, lease) VALUES (?, ?, ?)
            ON CONFLICT (name) DO UPDATE SET row = excluded.row, lease = excluded.lease
            """, arguments: [name, db.lastInsertedRowID, lease])
    }

    /// Deletes `name` with a tombstone. Returns false, writing nothing, when it does not exist.
    mutating func delete(_ name: Data) throws -> Bool {
        guard let previous = try LogStore.live(db, name: name) else { return false }
        let revision = writeRevision()
        try db.execute(sql: "DELETE FROM live WHERE name = ?", arguments: [name])
        try db.execute(sql: """
            INSERT INTO kv (revision, name, create_revision, prev_revision, version, deleted, lease, value)
            VALUES (?, ?, ?, ?, 0, 1, 0, x'')
            """, arguments: [revision, name, previous.createRevision, previous.revision])
        return true
    }

    /// Stores the new revision counter. Call once, last, before commit.
    func finish() throws {
        guard changed else { return }
        try db.execute(sql: "UPDATE meta SET value = ? WHERE name = 'revision'", arguments: [revision])
    }
}
