import Foundation

/// A private (0700) temporary directory, removed with everything in it by ``Cleanup``.
struct ScratchDirectory: Sendable {
    let path: String

    static func create(_ name: String) throws -> (ScratchDirectory, Cleanup.Token) {
        let path = NSTemporaryDirectory() + name
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: false,
                                                attributes: [.posixPermissions: 0o700])
        let token = Cleanup.shared.register { try? FileManager.default.removeItem(atPath: path) }
        return (ScratchDirectory(path: path), token)
    }
}
