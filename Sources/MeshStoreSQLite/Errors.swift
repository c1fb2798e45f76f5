import Foundation
import GRDB
import MeshCore

/// Translation of SQLite failures into ``MeshError`` at the adapter's boundary. Every message
/// names the database path, because several processes and files may be involved.
enum StoreErrors {
    /// Whether SQLite refused for lack of a lock another connection holds. The busy timeout has
    /// already waited by then; the caller retries a few more times before giving up.
    static func isBusy(_ error: any Error) -> Bool {
        guard let error = error as? DatabaseError else { return false }
        return error.resultCode == .SQLITE_BUSY || error.resultCode == .SQLITE_LOCKED
    }

    /// `error` as a ``MeshError``; ``MeshError``s and cancellation pass through unchanged.
    static func translate(_ error: any Error, path: String) -> any Error {
        if error is MeshError || error is CancellationError { return error }
        guard let error = error as? DatabaseError else {
            return MeshError(.backendFailure, "\(path): \(error)")
        }
        let reason = error.message ?? "\(error.resultCode)"
        switch error.resultCode {
        case .SQLITE_BUSY, .SQLITE_LOCKED:
            return MeshError(.unavailable, "\(path): database stayed locked by another connection: \(reason)")
        case .SQLITE_CANTOPEN, .SQLITE_IOERR, .SQLITE_FULL, .SQLITE_READONLY, .SQLITE_PERM, .SQLITE_AUTH:
            return MeshError(.unavailable, "\(path): \(reason)")
        case .SQLITE_NOTADB:
            return MeshError(.backendFailure, "\(path) is not a SQLite database: \(reason)")
        case .SQLITE_CORRUPT:
            return MeshError(.backendFailure, "\(path): database is corrupt: \(reason)")
        default:
            return MeshError(.backendFailure, "\(path): SQLite error \(error.extendedResultCode.rawValue): \(reason)")
        }
    }

    /// An open failure, with the reason SQLite does not give ("unable to open database file")
    /// spelt out from the file system: a missing directory, a directory where the file should be.
    static func opening(_ error: any Error, path: String) -> any Error {
        guard let dbError = error as? DatabaseError, dbError.resultCode == .SQLITE_CANTOPEN else {
            return translate(error, path: path)
        }
        let url = URL(fileURLWithPath: path)
        let directory = url.deletingLastPathComponent().path
        var isDirectory: ObjCBool = false
        let reason: String
        if !FileManager.default.fileExists(atPath: directory, isDirectory: &isDirectory) {
            reason = "directory \(directory) does not exist"
        } else if !isDirectory.boolValue {
            reason = "\(directory) is not a directory"
        } else if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue {
            reason = "it is a directory"
        } else {
            reason = dbError.message ?? "unable to open database file"
        }
        return MeshError(.unavailable, "cannot open datastore \(path): \(reason)")
    }
}
