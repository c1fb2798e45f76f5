import Foundation
import MeshCore
import MeshCrypto

/// Where `datastore setup-auth` leaves the passwords it made: one file per user, mode 0600, in
/// a directory of mode 0700. The passwords go from memory into the files, never to the terminal.
struct PasswordDirectory {
    let path: String

    init(path: String) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw MeshError(.invalidArgument, "--password-dir \(path) is not a directory") }
        } else {
            try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        }
        self.path = path
    }

    func newPassword() -> String { RandomSecret.token() }

    /// Writes `password` to `<path>/<user>` atomically (a temporary file renamed over it).
    func write(user: String, password: String) throws {
        let file = "\(path)/\(user)"
        let temporary = "\(file).tmp-\(getpid())"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw MeshError(.unavailable, "cannot create \(temporary)", errno: errno) }
        let bytes = Array((password + "\n").utf8)
        let written = bytes.withUnsafeBytes { Foundation.write(fd, $0.baseAddress!, $0.count) }
        let synced = fsync(fd)
        close(fd)
        guard written == bytes.count, synced == 0, rename(temporary, file) == 0 else {
            unlink(temporary)
            throw MeshError(.unavailable, "cannot write the password file \(file)", errno: errno)
        }
    }
}
