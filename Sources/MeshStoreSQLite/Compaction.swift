import GRDB
import MeshCore

/// Forgets history: what only a watch from an old revision could still need.
enum Compaction {
    /// Deletes every log row below `revision` that is not some key's current value (superseded
    /// puts and tombstones) and records `revision` as the compact revision.
    ///
    /// Rows at `revision` itself stay, so that a watch from the compact revision still works, as
    /// in etcd; a watch from below it fails `.compacted`. Current values stay whatever their
    /// age, so `get` and `list` are unaffected.
    /// - Throws: `.invalidArgument` for a revision after the current one. Compacting at or below
    ///   the compact revision is not an error; it does nothing.
    static func compact(upTo revision: Revision, db: Database) throws {
        let current = try LogStore.revision(db)
        guard revision <= current else {
            throw MeshError(.invalidArgument, "cannot compact up to revision \(revision): the store is at \(current)")
        }
        guard revision > (try LogStore.compactRevision(db)) else { return }
        try db.execute(sql: """
            DELETE FROM kv WHERE revision < ? AND NOT EXISTS (SELECT 1 FROM live WHERE live.row = kv.id)
            """, arguments: [revision])
        try db.execute(sql: "UPDATE meta SET value = ? WHERE name = 'compact_revision'", arguments: [revision])
    }
}
