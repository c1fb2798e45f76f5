import ArgumentParser
import Foundation
import Logging
import MeshCore

/// Options every command that talks to the datastore takes.
struct StoreOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Datastore URL: sqlite:///path/to/file.db.",
                                            discussion: "Default: $MESHGUARD_DATASTORE, else \(DatastoreLocation.defaultValue)."))
    var datastore: String?

    func location() throws -> DatastoreLocation {
        try DatastoreLocation(datastore ?? ProcessInfo.processInfo.environment["MESHGUARD_DATASTORE"] ?? DatastoreLocation.defaultValue)
    }

    func validate() throws {
        do { _ = try location() } catch let error as MeshError { throw ValidationError(error.message) }
    }
}

struct LogOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "info"

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("--log-level '\(logLevel)' is not one of trace, debug, info, notice, warning, error, critical")
        }
    }

    /// Sets up swift-log once per process: key=value lines on stderr.
    func bootstrap(label: String) -> Logger {
        let level = Logger.Level(rawValue: logLevel) ?? .info
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

/// A wall clock backed by the system's real-time clock.
struct SystemWallClock: WallClock {
    func now() -> Timestamp { Timestamp(seconds: Date().timeIntervalSince1970) }
}

/// Parses a Duration like "500ms", "2s", "1m".
func parseDuration(_ text: String, option: String) throws -> Duration {
    let units: [(String, Double)] = [("ms", 0.001), ("s", 1), ("m", 60)]
    for (suffix, scale) in units where text.hasSuffix(suffix) {
        if let value = Double(text.dropLast(suffix.count)), value > 0 {
            return .milliseconds(Int64(value * scale * 1000))
        }
    }
    throw ValidationError("\(option) '\(text)' is not a duration like 500ms, 2s or 1m")
}

extension MeshError {
    /// For use in `validate()`: ArgumentParser turns it into exit status 2 with the message.
    var validation: ValidationError { ValidationError(message) }
}
