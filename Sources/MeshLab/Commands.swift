import Foundation
import Glibc
import MeshCore

/// How a process ended.
public enum Termination: Hashable, Sendable, CustomStringConvertible {
    /// It called `exit` with this code.
    case exited(Int32)
    /// A signal ended it.
    case signalled(Int32)
    /// Another part of this process reaped it first (a `waitpid(-1)` elsewhere), so its status
    /// is unknown. MeshLab never does that itself.
    case reapedElsewhere

    public var succeeded: Bool { self == .exited(0) }

    public var description: String {
        switch self {
        case .exited(let code): "exited \(code)"
        case .signalled(let signal): "killed by signal \(signal)"
        case .reapedElsewhere: "reaped elsewhere (status unknown)"
        }
    }

    /// Decodes a `waitpid` status (the W* macros do not reach Swift).
    init(waitStatus status: Int32) {
        if status & 0x7f == 0 {
            self = .exited((status >> 8) & 0xff)
        } else {
            self = .signalled(status & 0x7f)
        }
    }
}

/// The outcome of a one-shot command. A non-zero exit is a result, not an error: look at
/// ``status`` or call ``checked()``.
public struct CommandResult: Sendable, CustomStringConvertible {
    /// The command as run, including the `nsenter` prefix that entered the namespace.
    public let arguments: [String]
    public let status: Termination
    public let stdout: String
    public let stderr: String

    public var succeeded: Bool { status.succeeded }

    /// Returns `self` when the command exited 0; otherwise throws `.backendFailure` naming the
    /// command, its status and its standard error.
    @discardableResult
    public func checked() throws(MeshError) -> CommandResult {
        guard succeeded else {
            let detail = (stderr.isEmpty ? stdout : stderr).trimmingCharacters(in: .whitespacesAndNewlines)
            throw MeshError(.backendFailure, "`\(arguments.joined(separator: " "))` \(status): \(detail)")
        }
        return self
    }

    public var description: String {
        "`\(arguments.joined(separator: " "))` \(status)\n--- stdout\n\(stdout)--- stderr\n\(stderr)"
    }
}

/// The outside programs the lab drives, each with the Debian package that provides it, so a
/// missing one is reported as something the user can fix.
struct Tool: Hashable, Sendable {
    let name: String
    let package: String

    static let ip = Tool(name: "ip", package: "iproute2")
    static let tcpdump = Tool(name: "tcpdump", package: "tcpdump")
    static let nsenter = Tool(name: "nsenter", package: "util-linux")
    static let unshare = Tool(name: "unshare", package: "util-linux")
    static let ping = Tool(name: "ping", package: "iputils-ping")
    static let sh = Tool(name: "sh", package: "dash")
    // The mount-namespace setup script runs these inside the new namespace.
    static let mount = Tool(name: "mount", package: "mount")
    static let umount = Tool(name: "umount", package: "mount")

    static let all: [Tool] = [.ip, .tcpdump, .nsenter, .unshare, .ping, .sh, .mount, .umount]
}

/// Absolute paths of the tools, resolved once when a lab is created.
struct ToolPaths: Sendable {
    let ip: String
    let tcpdump: String
    let nsenter: String
    let unshare: String
    let ping: String
    let sh: String

    /// Checks for every tool and reports all missing ones at once, with the packages to install.
    static func locate(searchPath: [String] = ToolPaths.defaultSearchPath) throws(MeshError) -> ToolPaths {
        var found: [String: String] = [:]
        var missing: [Tool] = []
        for tool in Tool.all {
            if let path = find(tool.name, in: searchPath) { found[tool.name] = path } else { missing.append(tool) }
        }
        guard missing.isEmpty else {
            let names = missing.map(\.name).joined(separator: ", ")
            let packages = Array(Set(missing.map(\.package))).sorted().joined(separator: " ")
            throw MeshError(.unsupported,
                "the network lab needs \(names), which \(missing.count == 1 ? "is" : "are") not installed; "
                + "install with: apt-get install -y \(packages)")
        }
        return ToolPaths(ip: found["ip"]!, tcpdump: found["tcpdump"]!, nsenter: found["nsenter"]!,
                         unshare: found["unshare"]!, ping: found["ping"]!, sh: found["sh"]!)
    }

    /// PATH, then the sbin directories, which a root shell has but `sudo`'s or a test runner's
    /// environment may lack (`ip` lives in /usr/sbin on Debian).
    static var defaultSearchPath: [String] {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        return path.split(separator: ":").map(String.init)
            + ["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"]
    }

    static func find(_ name: String, in searchPath: [String]) -> String? {
        for directory in searchPath where !directory.isEmpty {
            let candidate = directory + "/" + name
            if access(candidate, X_OK) == 0 { return candidate }
        }
        return nil
    }
}

/// The lab builds network namespaces, bridges and mounts, which only root can do.
func requireRoot(effectiveUID: uid_t = geteuid()) throws(MeshError) {
    guard effectiveUID == 0 else {
        throw MeshError(.permissionDenied,
            "meshguard demo needs root: network namespaces, veth pairs, bridges and mount namespaces "
            + "can only be created by root (run it with sudo)")
    }
}

/// Starting programs with `posix_spawn`, not Foundation's `Process`: the lab needs each child in
/// its own process group (so a terminal's Ctrl-C or a test runner's signal does not reach
/// daemons the lab must stop in order, and teardown can kill a child's helpers with it), no
/// inherited descriptors (a listening socket leaking into a wireguard-go daemon would outlive
/// the test), and children it alone reaps, with `waitpid` on their own pid.
enum Subprocess {
    enum Output {
        /// Standard output and error appended to this file; standard input is /dev/null.
        case logFile(String)
        /// Standard output and error into these pipe write ends.
        case pipes(stdout: Int32, stderr: Int32)
    }

    /// Starts `argv` (argv[0] an absolute path) in a new process group whose id is its pid.
    /// `environment` entries are added to (or replace) this process's environment.
    static func spawn(_ argv: [String], environment: [String: String] = [:], output: Output) throws(MeshError) -> pid_t {
        precondition(argv.first?.hasPrefix("/") == true, "spawn needs an absolute path")
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }

        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        switch output {
        case .logFile(let path):
            posix_spawn_file_actions_addopen(&actions, 1, path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
            posix_spawn_file_actions_adddup2(&actions, 1, 2)
        case .pipes(let stdout, let stderr):
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
            posix_spawn_file_actions_adddup2(&actions, stderr, 2)
        }
        _ = GNU.addCloseFrom?(&actions, 3)

        // Default dispositions and an empty mask: this process may ignore SIGPIPE or block
        // signals on the spawning thread, and a child must not inherit either.
        var all = sigset_t()
        sigfillset(&all)
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setsigmask(&attributes, &none)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes,
            Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        var merged = ProcessInfo.processInfo.environment
        for (key, value) in environment { merged[key] = value }
        let envStrings = merged.map { "\($0.key)=\($0.value)" }

        let cArgv = argv.map { strdup($0) } + [nil]
        let cEnv = envStrings.map { strdup($0) } + [nil]
        defer {
            for p in cArgv { free(p) }
            for p in cEnv { free(p) }
        }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, argv[0], &actions, &attributes, cArgv, cEnv)
        guard rc == 0 else {
            // The error may come from a file action in the child, e.g. a log file in a missing directory.
            var target = ""
            if case .logFile(let path) = output { target = " (output to \(path))" }
            throw MeshError(.backendFailure, "cannot start \(argv[0])\(target): \(String(cString: strerror(rc)))", errno: rc)
        }
        return pid
    }

    /// Runs `argv` to completion and collects its output. On timeout the whole process group is
    /// killed and `.timeout` is thrown; a non-zero exit is not an error here.
    static func run(_ argv: [String], timeout: Duration) throws(MeshError) -> CommandResult {
        var outPipe: [Int32] = [0, 0]
        var errPipe: [Int32] = [0, 0]
        guard GNU.pipe2(&outPipe, O_CLOEXEC) == 0 else { throw errnoError("pipe2") }
        guard GNU.pipe2(&errPipe, O_CLOEXEC) == 0 else {
            close(outPipe[0]); close(outPipe[1])
            throw errnoError("pipe2")
        }
        let pid: pid_t
        do {
            pid = try spawn(argv, output: .pipes(stdout: outPipe[1], stderr: errPipe[1]))
        } catch {
            for fd in outPipe + errPipe { close(fd) }
            throw error
        }
        close(outPipe[1])
        close(errPipe[1])
        defer { close(outPipe[0]); close(errPipe[0]) }
        _ = fcntl(outPipe[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(errPipe[0], F_SETFL, O_NONBLOCK)

        var stdout: [UInt8] = []
        var stderr: [UInt8] = []
        var open: Set<Int32> = [outPipe[0], errPipe[0]]
        let deadline = ContinuousClock.now + timeout
        func drain(_ fd: Int32) {
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n > 0 {
                    if fd == outPipe[0] { stdout += buffer[0..<n] } else { stderr += buffer[0..<n] }
                } else if n == 0 {
                    open.remove(fd)
                    return
                } else {
                    if errno == EINTR { continue }
                    if errno != EAGAIN { open.remove(fd) }
                    return
                }
            }
        }
        while true {
            if let status = reap(pid, block: false) {
                // Whatever the child wrote before it exited is in the pipes now. Stop there: a
                // daemon it started may hold the write ends open for good.
                for fd in open { drain(fd) }
                return CommandResult(arguments: argv, status: status,
                                     stdout: String(decoding: stdout, as: UTF8.self),
                                     stderr: String(decoding: stderr, as: UTF8.self))
            }
            if ContinuousClock.now >= deadline {
                kill(-pid, SIGKILL)
                _ = reap(pid, block: true)
                for fd in open { drain(fd) }
                let err = String(decoding: stderr, as: UTF8.self)
                throw MeshError(.timeout,
                    "`\(argv.joined(separator: " "))` did not finish within \(timeout); killed it. stderr: \(err)")
            }
            // Short waits: the exit itself is noticed by polling waitpid, the pipes by poll(2).
            var fds = open.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), open.isEmpty ? 1 : 10)
            for entry in fds where entry.revents != 0 { drain(entry.fd) }
        }
    }

    /// `waitpid` on one child; nil while it runs.
    static func reap(_ pid: pid_t, block: Bool) -> Termination? {
        var status: Int32 = 0
        while true {
            let rc = waitpid(pid, &status, block ? 0 : WNOHANG)
            if rc == pid { return Termination(waitStatus: status) }
            if rc == 0 { return nil }
            if errno == EINTR { continue }
            return .reapedElsewhere
        }
    }

    static func errnoError(_ what: String, code: MeshError.Code = .backendFailure) -> MeshError {
        let e = errno
        return MeshError(code, "\(what): \(String(cString: strerror(e)))", errno: e)
    }
}
