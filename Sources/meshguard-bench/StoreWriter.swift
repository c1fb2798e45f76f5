import Foundation
import MeshStoreSQLite

/// `meshguard-bench store-writer`: one writer process of the `store` benchmark. Puts `writes`
/// values under `prefix` (keys prefix + index), each the wall-clock time in nanoseconds taken
/// just before its put, pausing `intervalMilliseconds` between puts (0: flat out).
enum StoreWriter {
    static func run(database: String, prefix: String, writes: Int, intervalMilliseconds: Int) async throws {
        // The benchmark ignores these signals while it runs; its writers must not.
        signal(SIGINT, SIG_DFL)
        signal(SIGTERM, SIG_DFL)
        let store = try SQLiteDatastore(path: database)
        defer { store.close() }
        for index in 0..<writes {
            try await store.put(prefix + String(index), value: Array(String(wallClockNanoseconds()).utf8), lease: nil)
            if intervalMilliseconds > 0 { try await Task.sleep(for: .milliseconds(intervalMilliseconds)) }
        }
    }
}
