import GRDB
import MeshCore

/// The database layout, versioned with `PRAGMA user_version` and tagged with an application id.
///
/// ```
/// kv     an append-only log, one row per change of one key, in the spirit of kine's table:
///        revision (etcd mod_revision; every row written by one transaction shares it), name
///        (the key's UTF-8 bytes, a BLOB so that ranges compare bytes as etcd does),
///        create_revision, prev_revision (the key's previous row, 0 if none), version,
///        deleted (1 = tombstone), lease (0 = none), value.
/// live   the row that holds each existing key's current value, and its lease: point reads,
///        prefix lists and "keys of lease L" without scanning the log.
/// leases id, granted ttl, expires_at (wall-clock seconds: every process on the host compares
///        against its own clock, so the expiry instant must not be a process-local monotonic time).
/// meta   'revision' (the store's current revision) and 'compact_revision'.
/// ```
///
/// Why a revision counter in `meta` rather than kine's autoincrement id: one etcd transaction
/// with several operations gets one revision, so the revision cannot be a row id. Each write
/// transaction is `BEGIN IMMEDIATE`, which takes SQLite's single write lock for the whole
/// transaction, across processes; it reads the counter, appends rows at counter + 1 and stores
/// the counter in the same transaction. So revisions are assigned in commit order, a rolled
/// back transaction leaves no hole, and a reader never sees revision n + 1 without n. kine needs
/// its gap-filling rows only because its ids are handed out before commit.
enum Schema {
    /// "MGSD": a file with another application id belongs to some other program.
    static let applicationID: Int32 = 0x4D47_5344

    /// Schema steps, in order; `user_version` counts the steps applied.
    static let migrations: [@Sendable (Database) throws -> Void] = [createV1]

    /// Brings the schema up to date. Must run inside a `BEGIN IMMEDIATE` transaction.
    ///
    /// GRDB's `DatabaseMigrator` is not used because it reads which migrations were applied
    /// before it takes the write lock: two processes opening a fresh file at once (the
    /// controller and an agent) would both try to create the tables. Here the check and the
    /// creation happen under one lock.
    static func migrate(_ db: Database, path: String) throws {
        let appID = try Int32.fetchOne(db, sql: "PRAGMA application_id") ?? 0
        let version = try Int.fetchOne(db, sql: "PRAGMA user_version") ?? 0
        if appID != applicationID {
            let objects = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM sqlite_master") ?? 0
            if appID != 0 || version != 0 || objects != 0 {
                throw MeshError(.backendFailure,
                                "\(path) is a SQLite database of another program, not a meshguard datastore")
            }
        }
        if version > migrations.count {
            throw MeshError(.backendFailure,
                            "\(path) has datastore schema version \(version); this meshguard knows up to \(migrations.count)")
        }
        guard version < migrations.count else { return }
        for step in migrations[version...] {
            try step(db)
        }
        try db.execute(sql: "PRAGMA user_version = \(migrations.count)")
        try db.execute(sql: "PRAGMA application_id = \(applicationID)")
    }

    private static func createV1(_ db: Database) throws {
        try db.execute(sql: """
            CREATE TABLE kv (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                revision INTEGER NOT NULL,
                name BLOB NOT NULL,
                create_revision INTEGER NOT NULL,
                prev_revision INTEGER NOT NULL,
                version INTEGER NOT NULL,
                deleted INTEGER NOT NULL,
                lease INTEGER NOT NULL,
                value BLOB NOT NULL
            );
            -- One write per key per revision; also finds a key's latest row (tombstones included).
            CREATE UNIQUE INDEX kv_name_revision ON kv (name, revision);
            -- Watch replay and polling read the log in revision order.
            CREATE INDEX kv_revision ON kv (revision);

            CREATE TABLE live (
                name BLOB PRIMARY KEY,
                row INTEGER NOT NULL REFERENCES kv (id),
                lease INTEGER NOT NULL
            ) WITHOUT ROWID;
            -- Compaction asks "is this log row some key's current one?"; the foreign key needs it too.
            CREATE INDEX live_row ON live (row);
            CREATE INDEX live_lease ON live (lease);

            CREATE TABLE leases (
                id INTEGER PRIMARY KEY,
                ttl INTEGER NOT NULL,
                expires_at REAL NOT NULL
            );
            CREATE INDEX leases_expires_at ON leases (expires_at);

            CREATE TABLE meta (
                name TEXT PRIMARY KEY,
                value INTEGER NOT NULL
            ) WITHOUT ROWID;
            -- Revision 1 is the empty store, as in etcd: the first write is revision 2.
            INSERT INTO meta (name, value) VALUES ('revision', 1), ('compact_revision', 0);
            """)
    }
}
