// Test support for the multi-process datastore tests: one process that hammers a shared SQLite
// datastore file while others do the same.
//
//   meshguard-store-worker --db PATH --worker N --count K --prefix P [--interval-ms M]
//
// Does K rounds of: a compare-and-swap increment of the shared counter P + "counter" (retrying
// on conflict), then a put of its own key P + "w<N>/<i>" whose value is the wall-clock time of
// the put in nanoseconds since the epoch (so that a watcher can measure delivery latency).
// Sleeps M milliseconds between rounds when asked to pace itself. Prints one summary line.
import Foundation
import MeshCore
import MeshStoreSQLite

struct Arguments {
    var db = ""
    var worker = 0
    var count = 0
    var prefix = ""
    var intervalMilliseconds = 0

    init(_ arguments: [String]) throws {
        var iterator = arguments.makeIterator()
        while let flag = iterator.next() {
            guard let value = iterator.next() else { throw MeshError(.invalidArgument, "\(flag) needs a value") }
            switch flag {
            case "--db": db = value
            case "--worker": worker = try Self.integer(flag, value)
            case "--count": count = try Self.integer(flag, value)
            case "--prefix": prefix = value
            case "--interval-ms": intervalMilliseconds = try Self.integer(flag, value)
            default: throw MeshError(.invalidArgument, "unknown flag \(flag)")
            }
        }
        if db.isEmpty || prefix.isEmpty || count < 0 {
            throw MeshError(.invalidArgument,
                            "usage: meshguard-store-worker --db PATH --worker N --count K --prefix P [--interval-ms M]")
        }
    }

    private static func integer(_ flag: String, _ value: String) throws -> Int {
        guard let number = Int(value) else { throw MeshError(.invalidArgument, "\(flag) \(value) is not a number") }
        return number
    }
}

/// Adds one to the decimal counter at `key`; returns how many attempts lost a race.
func increment(_ store: some Datastore, key: String) async throws -> Int {
    var conflicts = 0
    while true {
        if let current = try await store.get(key) {
            let value = Int(String(decoding: current.value, as: UTF8.self)) ?? 0
            if try await store.update(key, value: Array(String(value + 1).utf8), ifModRevision: current.modRevision) {
                return conflicts
            }
        } else if try await store.create(key, value: Array("1".utf8)) {
            return conflicts
        }
        conflicts += 1
    }
}

func wallClockNanoseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}

do {
    let arguments = try Arguments(Array(CommandLine.arguments.dropFirst()))
    let store = try SQLiteDatastore(path: arguments.db)
    var conflicts = 0
    for round in 0..<arguments.count {
        conflicts += try await increment(store, key: arguments.prefix + "counter")
        try await store.put("\(arguments.prefix)w\(arguments.worker)/\(round)",
                            value: Array(String(wallClockNanoseconds()).utf8), lease: nil)
        if arguments.intervalMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(arguments.intervalMilliseconds))
        }
    }
    store.close()
    print("worker \(arguments.worker): \(arguments.count) increments (\(conflicts) conflicts), \(arguments.count) puts")
} catch {
    FileHandle.standardError.write(Data("meshguard-store-worker: \(error)\n".utf8))
    exit(1)
}
