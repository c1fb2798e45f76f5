import Glibc
import MeshCore

/// Starting and finding wireguard-go processes.
///
/// wireguard-go (0.0.20220316, and the xplatform spec) daemonises by default: the process we
/// start creates the TUN device and the listening UAPI socket, re-executes itself detached with
/// both as fds 3 and 4, and exits 0. So the daemon is never our child, and it survives the
/// agent: the agent's restart re-attaches through the socket.
enum WireGuardGoProcess {
    /// Finds the wireguard-go executable: `configured` if given, else the first `wireguard-go`
    /// on PATH.
    static func resolveExecutable(_ configured: String?) throws(MeshError) -> String {
        if let configured {
            guard access(configured, X_OK) == 0 else {
                throw MeshError(.unsupported, "wireguard-go is not installed: \(configured) is not an executable file")
            }
            return configured
        }
        let path = getenv("PATH").map { String(cString: $0) } ?? "/usr/local/bin:/usr/bin:/bin"
        for directory in path.split(separator: ":") where !directory.isEmpty {
            let candidate = "\(directory)/wireguard-go"
            var info = stat()
            if stat(candidate, &info) == 0, info.st_mode & S_IFMT == S_IFREG, access(candidate, X_OK) == 0 {
                return candidate
            }
        }
        throw MeshError(.unsupported, """
            wireguard-go is not installed (not found on PATH \(path)); install the wireguard-go \
            package, or use a kernel with the WireGuard module
            """)
    }

    /// Runs `launcherPrefix + [executable, interface]` in a new session, with no descriptors of
    /// ours but a capture file on stdout and stderr, and waits for it to exit.
    ///
    /// - Throws: `.unsupported` when the launcher itself cannot be executed; `.backendFailure`
    ///   with what it printed when it exits non-zero or is killed; `.timeout` (after killing its
    ///   process group) when it has not exited by `deadline`.
    static func launch(executable: String, interface: String, launcherPrefix: [String],
                       deadline: ContinuousClock.Instant) async throws(MeshError) {
        let arguments = launcherPrefix + [executable, interface]
        let output = try CaptureFile()

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, output.fd, 1)
        posix_spawn_file_actions_adddup2(&actions, output.fd, 2)
        // The daemon inherits whatever the launcher had open (Go's StartProcess closes nothing
        // it did not open itself), so a socket or pipe of the agent would be held open for the
        // lifetime of the device. Close everything above stderr.
        closeDescriptors(from: 3, in: &actions)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A new session: a signal to the agent's process group (Ctrl-C, a supervisor stopping
        // the agent) must not reach wireguard-go, whose daemon stays in the launcher's group.
        // Signals the agent ignores or blocks (SIGPIPE, say) are reset, since both survive exec.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in Int32(1)..<32 where signal != SIGKILL && signal != SIGSTOP { sigaddset(&defaults, signal) }
        var mask = sigset_t()
        sigemptyset(&mask)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &mask)
        posix_spawnattr_setflags(&attributes, Int16(posixSpawnSetSID | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var pid: pid_t = 0
        let rc = withCStrings(arguments) { argv in
            withCStrings(launchEnvironment()) { envp in
                posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
            }
        }
        guard rc == 0 else {
            throw MeshError(rc == ENOENT || rc == EACCES ? .unsupported : .backendFailure,
                            "cannot run \(arguments.joined(separator: " "))", errno: rc)
        }

        // Poll rather than block in waitpid: this runs on the cooperative pool.
        var status: Int32 = 0
        while true {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid { break }
            // ECHILD: someone else reaped it (SIGCHLD ignored); success shows as a socket.
            if reaped < 0 && errno == ECHILD { return }
            if reaped < 0 && errno == EINTR { continue }
            if ContinuousClock.now >= deadline {
                kill(-pid, SIGKILL)
                waitpid(pid, &status, 0)
                throw MeshError(.timeout, "\(arguments.joined(separator: " ")) did not finish starting in time")
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        let signal = status & 0x7f
        let code = (status >> 8) & 0xff
        if signal == 0 && code == 0 { return }
        let how = signal == 0 ? "exited with status \(code)" : "was killed by signal \(signal)"
        let printed = output.text()
        throw MeshError(.backendFailure, """
            wireguard-go could not start \(interface): \(arguments.joined(separator: " ")) \(how)\
            \(printed.isEmpty ? " and printed nothing" : ": \(printed)")
            """)
    }

    /// The environment for wireguard-go: ours, with `LOG_LEVEL=error` (errors reach the capture
    /// file, nothing chattier does) and without the variables that would make it run in the
    /// foreground or adopt descriptors it does not have.
    static func launchEnvironment() -> [String] {
        var environment: [String] = []
        var entry = environ
        while let pointer = entry.pointee {
            let item = String(cString: pointer)
            let key = item.prefix { $0 != "=" }
            if !["WG_PROCESS_FOREGROUND", "WG_TUN_FD", "WG_UAPI_FD", "LOG_LEVEL"].contains(key) {
                environment.append(item)
            }
            entry += 1
        }
        environment.append("LOG_LEVEL=error")
        return environment
    }

    // MARK: finding the daemon

    /// The pid of the wireguard-go process listening on `socketPath`, or nil.
    ///
    /// The socket's peer credentials (SO_PEERCRED) do not help: they name the process that
    /// called listen(), which is the launcher that exited long ago, whose pid may by now belong
    /// to anything. Instead, for each process called `commandName`, look its network
    /// namespace's unix socket table (`/proc/<pid>/net/unix`) up for a listener bound to
    /// `socketPath`, and check that the process holds that socket's inode.
    static func daemonPID(socketPath: String, commandName: String = "wireguard-go") -> pid_t? {
        let comm = String(commandName.utf8.prefix(15))! // the kernel truncates comm to 15 bytes
        guard let proc = opendir("/proc") else { return nil }
        defer { closedir(proc) }
        while let entry = readdir(proc) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard let pid = pid_t(name) else { continue }
            guard readSmallFile("/proc/\(pid)/comm")?.trimmingSuffix("\n") == comm,
                  let table = readSmallFile("/proc/\(pid)/net/unix", limit: 4 << 20),
                  let inode = listeningInode(in: table, path: socketPath) else { continue }
            if holdsSocket(pid: pid, inode: inode) { return pid }
        }
        return nil
    }

    /// Finds the inode of the listening socket bound to `path` in /proc/net/unix text:
    /// `Num RefCount Protocol Flags Type St Inode Path`, flags 00010000 = __SO_ACCEPTCON.
    static func listeningInode(in table: String, path: String) -> String? {
        for line in table.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            guard fields.count >= 8, fields[7] == path, fields[3] == "00010000" else { continue }
            return String(fields[6])
        }
        return nil
    }

    private static func holdsSocket(pid: pid_t, inode: String) -> Bool {
        guard let fds = opendir("/proc/\(pid)/fd") else { return false }
        defer { closedir(fds) }
        let wanted = "socket:[\(inode)]"
        var target = [CChar](repeating: 0, count: 64)
        while let entry = readdir(fds) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
            guard Int(name) != nil else { continue }
            let n = readlink("/proc/\(pid)/fd/\(name)", &target, target.count - 1)
            guard n > 0 else { continue }
            let link = target.prefix(n).withUnsafeBufferPointer { String(decoding: UnsafeRawBufferPointer($0), as: UTF8.self) }
            if link == wanted { return true }
        }
        return false
    }

    /// Whether `pid` has exited and closed its descriptors (and with them its TUN device and
    /// socket). A zombie waiting for init to reap it counts as exited, but only once it is a
    /// zombie alone: a killed Go process's main thread shows state Z while its other threads
    /// are still tearing down, and the descriptor table they share is still open.
    static func hasExited(_ pid: pid_t) -> Bool {
        guard let stat = readSmallFile("/proc/\(pid)/stat") else { return true }
        // "pid (comm) S …": the state follows the last ')', as comm may contain anything.
        guard let close = stat.lastIndex(of: ")") else { return true }
        let state = stat[stat.index(after: close)...].drop { $0 == " " }.first
        guard state == "Z" || state == "X" else { return false }
        guard let tasks = opendir("/proc/\(pid)/task") else { return true }
        defer { closedir(tasks) }
        var threads = 0
        while let entry = readdir(tasks) {
            if entry.pointee.d_name.0 != UInt8(ascii: ".") { threads += 1 }
        }
        return threads <= 1
    }
}

// glibc defines POSIX_SPAWN_SETSID (2.26+) only under _GNU_SOURCE, which Swift's Glibc module
// does not set; the value is fixed ABI.
private let posixSpawnSetSID: Int32 = 0x80

/// Adds "close every fd from `lowest` up" to `actions`: glibc's
/// posix_spawn_file_actions_addclosefrom_np (2.34+, looked up at run time because it too is
/// hidden behind _GNU_SOURCE), or, on an older C library, a close for each fd open now.
private func closeDescriptors(from lowest: Int32, in actions: inout posix_spawn_file_actions_t) {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    if let symbol = dlsym(nil, "posix_spawn_file_actions_addclosefrom_np") {
        let addCloseFrom = unsafeBitCast(symbol, to: AddCloseFrom.self)
        if addCloseFrom(&actions, lowest) == 0 { return }
    }
    guard let directory = opendir("/proc/self/fd") else { return }
    defer { closedir(directory) }
    let own = dirfd(directory)
    while let entry = readdir(directory) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        if let fd = Int32(name), fd >= lowest, fd != own {
            posix_spawn_file_actions_addclose(&actions, fd)
        }
    }
}

/// An anonymous file that collects what the launcher prints. It is unlinked at once: the
/// daemon inherits it as stdout/stderr and appends its (rare, error-level) log lines to it
/// for as long as it runs, which must not leave files behind. A pipe would not do: once we
/// stopped reading it, a Go program writing to a broken stdout is killed by SIGPIPE.
private final class CaptureFile {
    let fd: Int32

    init() throws(MeshError) {
        var template = Array("/tmp/meshguard-wireguard-go-XXXXXX".utf8CString)
        // mkostemp(O_CLOEXEC) is hidden behind _GNU_SOURCE; the window before fcntl only
        // matters to a concurrent spawn elsewhere in the process, and ours close all fds.
        fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else { throw MeshError(.unavailable, "cannot create a temporary file in /tmp", errno: errno) }
        _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
        template.withUnsafeBufferPointer { _ = unlink($0.baseAddress!) }
    }

    deinit { close(fd) }

    /// What was printed, without wireguard-go's "Running wireguard-go is not required" box
    /// (printed on every kernel ≥ 5.6, whether or not it has the module), trimmed and capped.
    func text() -> String {
        var buffer = [UInt8](repeating: 0, count: 8192)
        let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, $0.count, 0) }
        guard n > 0 else { return "" }
        let lines = String(decoding: buffer.prefix(n), as: UTF8.self)
            .split(separator: "\n")
            .filter { line in !line.unicodeScalars.contains { (0x2500...0x257F).contains($0.value) } }
            .map { $0.trimmingCharacters() }
            .filter { !$0.isEmpty }
        return lines.joined(separator: "; ")
    }
}

private func withCStrings<R>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> R) -> R {
    var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
    pointers.append(nil)
    defer { for pointer in pointers { free(pointer) } }
    return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
}

func readSmallFile(_ path: String, limit: Int = 4096) -> String? {
    let fd = open(path, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var data: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while data.count < limit {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        data += chunk.prefix(n)
    }
    return String(decoding: data, as: UTF8.self)
}

extension StringProtocol {
    func trimmingSuffix(_ suffix: String) -> String {
        hasSuffix(suffix) ? String(dropLast(suffix.count)) : String(self)
    }

    func trimmingCharacters() -> String {
        String(drop { $0.isWhitespace }.reversed().drop { $0.isWhitespace }.reversed())
    }
}
