import Foundation
import Testing

/// The `meshguard-store-worker` executable, run as separate processes by the multi-process tests.
enum StoreWorker {
    struct Run: Sendable {
        let worker: Int
        let status: Int32
        let output: String
    }

    /// The worker binary. `swift test` builds it into the same products directory as the test
    /// runner (`.build/<triple>/debug/`); on Linux the runner is the executable
    /// `meshguardPackageTests.xctest` there, on macOS a bundle whose executable sits three
    /// levels deeper. `MESHGUARD_STORE_WORKER` overrides the search.
    static func executable() throws -> URL {
        let name = "meshguard-store-worker"
        if let override = ProcessInfo.processInfo.environment["MESHGUARD_STORE_WORKER"] {
            return URL(fileURLWithPath: override)
        }
        var starts = [URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath(), Bundle.main.bundleURL]
        if let argument = CommandLine.arguments.first {
            starts.append(URL(fileURLWithPath: argument).resolvingSymlinksInPath())
        }
        for start in starts {
            var directory = start.deletingLastPathComponent()
            for _ in 0..<4 {
                let candidate = directory.appendingPathComponent(name)
                if FileManager.default.isExecutableFile(atPath: candidate.path) {
                    return candidate
                }
                directory = directory.deletingLastPathComponent()
            }
        }
        throw TestCommand.Failure(description: "\(name) not found near \(starts.map(\.path)); run `swift build` first "
                                  + "or set MESHGUARD_STORE_WORKER")
    }

    /// Runs one worker to completion.
    static func run(db: String, worker: Int, count: Int, prefix: String, intervalMilliseconds: Int = 0) async throws -> Run {
        let process = Process()
        process.executableURL = try executable()
        process.arguments = ["--db", db, "--worker", String(worker), "--count", String(count), "--prefix", prefix,
                             "--interval-ms", String(intervalMilliseconds)]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        return try await withCheckedThrowingContinuation { continuation in
            process.terminationHandler = { process in
                let data = output.fileHandleForReading.readDataToEndOfFile()
                continuation.resume(returning: Run(worker: worker, status: process.terminationStatus,
                                                   output: String(decoding: data, as: UTF8.self)))
            }
            do {
                try process.run()
            } catch {
                process.terminationHandler = nil
                continuation.resume(throwing: error)
            }
        }
    }

    /// Runs `workers` workers at once, numbered from 0.
    static func runAll(db: String, workers: Int, count: Int, prefix: String,
                       intervalMilliseconds: Int = 0) async throws -> [Run] {
        try await withThrowingTaskGroup(of: Run.self) { group in
            for worker in 0..<workers {
                group.addTask {
                    try await run(db: db, worker: worker, count: count, prefix: prefix,
                                  intervalMilliseconds: intervalMilliseconds)
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }.sorted { $0.worker < $1.worker }
        }
    }
}
