import Glibc
import MeshCore

/// The node's private key on disk: `<state directory>/wireguard.key`, holding the base64 key and
/// a newline, exactly what `wg genkey` writes, so `wg pubkey < wireguard.key` works.
///
/// A key file is created once and never rewritten. A file that is unsafe or unreadable is
/// refused with an error naming the path and the problem (never the key) and is left exactly as
/// it is: replacing it would silently change the node's identity.
public enum KeyFile {
    public static let defaultStateDirectory = "/var/lib/meshguard"
    public static let fileName = "wireguard.key"

    /// `<stateDirectory>/wireguard.key`.
    public static func path(inStateDirectory stateDirectory: String) -> String {
        stateDirectory.hasSuffix("/") ? stateDirectory + fileName : stateDirectory + "/" + fileName
    }

    /// Returns the node's private key, generating and storing one on first use.
    ///
    /// Creates `stateDirectory` (mode 0700) when it is missing; its parent must exist. A new key
    /// is written to a fresh 0600 file in the same directory, synced, and then published under
    /// its final name with `link(2)`, which (unlike `rename`) fails instead of replacing a file:
    /// when two processes race, the first key wins and both return it. No reader ever sees a
    /// partial or group-readable key file.
    ///
    /// - Throws: ``MeshError`` when the directory cannot be created, or when an existing key file
    ///   is a symlink or not a regular file (`.invalidArgument`), is accessible to group or
    ///   others (`.permissionDenied`), or does not hold exactly one 44-character base64 key of
    ///   32 bytes (`.invalidKey`). A missing file is not an error.
    public static func loadOrCreate(stateDirectory: String = defaultStateDirectory) throws(MeshError) -> PrivateKey {
        try makeDirectory(stateDirectory)
        let path = path(inStateDirectory: stateDirectory)
        if let existing = try load(path: path) { return existing }
        let fresh = KeyGeneration.generatePrivateKey()
        if try publish(fresh, at: path, directory: stateDirectory) { return fresh }
        // Another process published its key between our load and our link: use that one.
        guard let winner = try load(path: path) else {
            throw MeshError(.unavailable, "\(path) appeared and vanished while it was being created; retry")
        }
        return winner
    }

    /// Reads the key file at `path`. Returns nil when there is no file; throws as described for
    /// ``loadOrCreate(stateDirectory:)`` for anything else that is wrong with it.
    public static func load(path: String) throws(MeshError) -> PrivateKey? {
        // O_NOFOLLOW: a symlink (even a dangling one) fails with ELOOP instead of being followed
        // to a file someone else may control. O_NONBLOCK: a FIFO put here must not hang us.
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK)
        if fd < 0 {
            let e = errno
            switch e {
            case ENOENT: return nil
            case ELOOP:
                throw MeshError(.invalidArgument, "\(path) is a symbolic link; the key file must be a regular file")
            case EACCES, EPERM:
                throw MeshError(.permissionDenied, "cannot read the key file \(path)", errno: e)
            default:
                throw MeshError(.unavailable, "cannot open the key file \(path)", errno: e)
            }
        }
        defer { close(fd) }

        var info = stat()
        guard fstat(fd, &info) == 0 else {
            throw MeshError(.unavailable, "cannot stat the key file \(path)", errno: errno)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw MeshError(.invalidArgument, "\(path) is \(describeType(info.st_mode)), not a regular key file")
        }
        guard info.st_mode & 0o077 == 0 else {
            let mode = String(info.st_mode & 0o7777, radix: 8)
            throw MeshError(.permissionDenied, """
                \(path) has mode 0\(mode); a key file must not be accessible to group or others. \
                If the key was never exposed, run chmod 600 \(path); otherwise delete the file so that a new key is generated
                """)
        }

        // Enough for a key, a newline and a little more, so that "too long" is detected.
        let capacity = 64
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 1)
        defer {
            wipe(buffer)
            buffer.deallocate()
        }
        var length = 0
        while length < capacity {
            let n = read(fd, buffer.baseAddress! + length, capacity - length)
            if n == 0 { break }
            if n < 0 {
                if errno == EINTR { continue }
                throw MeshError(.unavailable, "cannot read the key file \(path)", errno: errno)
            }
            length += n
        }
        var keyLength = length
        if keyLength > 0 && buffer[keyLength - 1] == UInt8(ascii: "\n") { keyLength -= 1 }
        guard keyLength == KeyEncoding.base64Length else {
            throw MeshError(.invalidKey, """
                \(path) does not hold exactly one WireGuard private key \
                (\(KeyEncoding.base64Length) base64 characters and a newline); it has \(length == capacity ? "\(capacity) or more" : "\(length)") bytes
                """)
        }
        do {
            return try KeyEncoding.decodePrivateKey(base64: UnsafeRawBufferPointer(rebasing: buffer[0..<keyLength]))
        } catch {
            throw MeshError(.invalidKey, "\(path) does not hold a valid WireGuard private key: \(error.message)")
        }
    }

    // MARK: creating

    private static func makeDirectory(_ directory: String) throws(MeshError) {
        if mkdir(directory, 0o700) == 0 { return }
        let e = errno
        guard e == EEXIST else {
            throw MeshError(e == EACCES ? .permissionDenied : .unavailable,
                            "cannot create the state directory \(directory)", errno: e)
        }
        var info = stat()
        guard stat(directory, &info) == 0, info.st_mode & S_IFMT == S_IFDIR else {
            throw MeshError(.invalidArgument, "the state directory \(directory) exists but is not a directory")
        }
    }

    /// Writes `key` to a new private temporary file and links it to `path`. Returns false,
    /// leaving `path` untouched, when `path` already exists.
    private static func publish(_ key: PrivateKey, at path: String, directory: String) throws(MeshError) -> Bool {
        let temporary = "\(directory)/.\(fileName).\(getpid()).\(UInt64.random(in: 0...UInt64.max))"
        // O_EXCL|O_NOFOLLOW: never write through something an attacker pre-created. Mode 0600
        // from the first instant, so the key is never readable by anyone else.
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw MeshError(.unavailable, "cannot create a temporary key file in \(directory)", errno: errno)
        }
        // On every exit the temporary name goes; once linked, the final name keeps the data.
        defer { unlink(temporary) }
        do {
            defer { close(fd) }
            // umask may have cleared bits of 0600; set exactly 0600 so the owner can read it.
            guard fchmod(fd, 0o600) == 0 else {
                throw MeshError(.unavailable, "cannot set mode 0600 on \(temporary)", errno: errno)
            }
            try writeKey(key, to: fd, path: temporary)
            guard fsync(fd) == 0 else {
                throw MeshError(.unavailable, "cannot sync \(temporary) to disk", errno: errno)
            }
        }
        if link(temporary, path) != 0 {
            let e = errno
            if e == EEXIST { return false }
            throw MeshError(.unavailable, "cannot create the key file \(path)", errno: e)
        }
        unlink(temporary)
        // The new directory entry must reach the disk too, or a crash could lose the key that
        // peers already know us by.
        let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if dirfd >= 0 {
            defer { close(dirfd) }
            guard fsync(dirfd) == 0 else {
                throw MeshError(.unavailable, "cannot sync the state directory \(directory)", errno: errno)
            }
        }
        return true
    }

    private static func writeKey(_ key: PrivateKey, to fd: Int32, path: String) throws(MeshError) {
        let line = UnsafeMutableRawBufferPointer.allocate(byteCount: KeyEncoding.base64Length + 1, alignment: 1)
        defer {
            wipe(line)
            line.deallocate()
        }
        KeyEncoding.withBase64(of: key) { text in
            line.copyMemory(from: text)
        }
        line[KeyEncoding.base64Length] = UInt8(ascii: "\n")
        var written = 0
        while written < line.count {
            let n = write(fd, line.baseAddress! + written, line.count - written)
            if n < 0 {
                if errno == EINTR { continue }
                throw MeshError(.unavailable, "cannot write \(path)", errno: errno)
            }
            written += n
        }
    }

    private static func describeType(_ mode: mode_t) -> String {
        switch mode & S_IFMT {
        case S_IFDIR: "a directory"
        case S_IFLNK: "a symbolic link"
        case S_IFIFO: "a FIFO"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "not a regular file"
        }
    }
}
