import Glibc
import MeshCore

/// The userspace backend: WireGuard devices run by wireguard-go, driven over its UAPI socket
/// `<socketDirectory>/<name>.sock`.
///
/// The devices belong to their wireguard-go processes, not to this object: they outlive the
/// agent, and a new instance (an agent restart) re-attaches to a running device through its
/// socket without restarting it. Holds no mutable state; calls may run concurrently, but two
/// concurrent ``ensureDevice(named:)`` calls for the same name race to start it (the loser
/// fails), so drive each device from one task, as the agent does.
///
/// Every socket operation is bounded by ``Configuration/ioTimeout`` and blocks its thread for
/// at most that long; waits for processes poll and sleep instead of blocking.
public final class UserspaceDevices: WireGuardDevices, Sendable {
    public struct Configuration: Sendable {
        /// Where the UAPI sockets live. wireguard-go 0.0.20220316 hard-codes /var/run/wireguard,
        /// as does wg(8); change it only for a build that differs. It is shared by every
        /// network namespace on the host, so device names must be unique host-wide.
        public var socketDirectory: String
        /// The wireguard-go executable; nil means the first `wireguard-go` on PATH.
        public var executable: String?
        /// How long starting a device may take, from launch until its socket answers `get=1`.
        public var startupTimeout: Duration
        /// How long a device may take to exit after ``UserspaceDevices/deleteDevice(named:)``
        /// before it is killed.
        public var shutdownTimeout: Duration
        /// The limit on each connect, read and write on a UAPI socket.
        public var ioTimeout: Duration
        /// Words put before `wireguard-go <name>` when starting it, e.g.
        /// `["ip", "netns", "exec", "ns1"]` to create the device in another network namespace.
        public var launcherPrefix: [String]
        /// Receives one line per notable event (device started, stale socket removed, device
        /// deleted). Never receives key material or request bodies.
        public var log: (@Sendable (String) -> Void)?

        public init(socketDirectory: String = "/var/run/wireguard", executable: String? = nil,
                    startupTimeout: Duration = .seconds(10), shutdownTimeout: Duration = .seconds(5),
                    ioTimeout: Duration = .seconds(10), launcherPrefix: [String] = [],
                    log: (@Sendable (String) -> Void)? = nil) {
            self.socketDirectory = socketDirectory
            self.executable = executable
            self.startupTimeout = startupTimeout
            self.shutdownTimeout = shutdownTimeout
            self.ioTimeout = ioTimeout
            self.launcherPrefix = launcherPrefix
            self.log = log
        }
    }

    public let configuration: Configuration
    public var kind: WireGuardBackendKind { .userspace }

    public init(configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    /// The UAPI socket of device `name`.
    public func socketPath(for name: String) -> String {
        configuration.socketDirectory.hasSuffix("/")
            ? configuration.socketDirectory + name + ".sock"
            : configuration.socketDirectory + "/" + name + ".sock"
    }

    /// Starts wireguard-go for `name` unless its socket answers. Returns true when it started
    /// one. A socket nobody listens on (its wireguard-go died) is removed and a new process
    /// started; a running device is left exactly as it is.
    ///
    /// The process is started detached (own session, none of our descriptors, daemonised by
    /// wireguard-go itself), so stopping or killing the agent leaves the device running.
    ///
    /// - Throws: `.invalidArgument` for a bad name or when something that is not a socket sits
    ///   at the socket path; `.unsupported` when wireguard-go is not installed;
    ///   `.backendFailure` with wireguard-go's own message when it fails to start (a name
    ///   taken by another interface, no /dev/net/tun, no permission); `.timeout` when the
    ///   device does not answer within ``Configuration/startupTimeout``.
    @discardableResult
    public func ensureDevice(named name: String) async throws -> Bool {
        try validateInterfaceName(name)
        let path = socketPath(for: name)
        let ioTimeout = configuration.ioTimeout
        let found = try await blocking { () -> SocketState in
            switch try UAPIConnection.dial(path, timeout: ioTimeout) {
            case .connected: .answering
            case .stale: .stale
            case .missing: .missing
            }
        }
        switch found {
        case .answering:
            return false
        case .stale:
            try removeStaleSocket(path)
            log("removed the stale socket \(path) of a wireguard-go that is no longer running")
        case .missing:
            break
        }
        let executable = try WireGuardGoProcess.resolveExecutable(configuration.executable)
        let deadline = ContinuousClock.now + configuration.startupTimeout
        try await WireGuardGoProcess.launch(executable: executable, interface: name,
                                            launcherPrefix: configuration.launcherPrefix, deadline: deadline)
        try await waitUntilAnswering(name: name, path: path, deadline: deadline)
        log("started wireguard-go for \(name)")
        return true
    }

    /// Reads the device with `get=1`. Returns nil when there is no socket, or when nobody
    /// listens on it (the process died): the caller should call ``ensureDevice(named:)``.
    ///
    /// - Throws: `.timeout` when wireguard-go does not answer in time; `.unavailable` when it
    ///   drops the connection; `.backendFailure` when the reply is an error or malformed.
    public func device(named name: String) async throws -> DeviceState? {
        try validateInterfaceName(name)
        let path = socketPath(for: name)
        return try await blocking { [self] in
            guard case .connected(let connection) = try UAPIConnection.dial(path, timeout: configuration.ioTimeout) else {
                return nil
            }
            return try read(name: name, over: connection)
        }
    }

    /// Sends `patch` as one `set=1` request on one connection; an empty patch sends nothing.
    /// The request, which may hold the private key, is zeroed once sent.
    ///
    /// wireguard-go applies a request line by line, so when it rejects one, the lines before it
    /// stay applied: read the device back and plan again.
    ///
    /// - Throws: `.notFound` when the device has no live socket; `.backendFailure` with the
    ///   errno when wireguard-go rejects the request (e.g. errno 22 for a value it cannot
    ///   parse, 98 when the listen port is taken); `.timeout`/`.unavailable` for I/O failures.
    public func apply(_ patch: DevicePatch, to name: String) async throws {
        try validateInterfaceName(name)
        guard !patch.isEmpty else { return }
        try await blocking { [self] in try send(patch, to: name) }
    }

    private func send(_ patch: DevicePatch, to name: String) throws {
        let path = socketPath(for: name)
        guard case .connected(let connection) = try UAPIConnection.dial(path, timeout: configuration.ioTimeout) else {
            throw MeshError(.notFound, "there is no wireguard-go device \(name) (no live socket at \(path))")
        }
        var request = UAPI.encodeSet(patch)
        let sent: UAPIConnection.SendResult
        do {
            defer { wipe(&request) }
            sent = try connection.send(request)
        }
        // Read the reply even when the write was cut short: wireguard-go answers an error in
        // the middle of a request at once and then drops the connection, and its errno is the
        // useful part.
        let reply: [UInt8]
        do {
            reply = try connection.receiveReply(limit: 4096)
        } catch {
            if case .closedByPeer(let e) = sent {
                throw MeshError(.unavailable, "wireguard-go closed \(path) while the configuration was being sent", errno: e)
            }
            throw error
        }
        try UAPI.decodeSetReply(reply)
        if case .closedByPeer(let e) = sent {
            throw MeshError(.unavailable, "wireguard-go closed \(path) before the whole configuration was sent", errno: e)
        }
    }

    /// Stops the device's wireguard-go, which removes its TUN device, and returns once the
    /// process has exited. A missing device is not an error; a stale socket is removed.
    ///
    /// The socket file is removed first: wireguard-go watches it (inotify) and shuts down
    /// cleanly when it goes, which also means no later call can reach the dying process. The
    /// exit is seen as end-of-file on a connection held open across it. A process that has not
    /// exited after ``Configuration/shutdownTimeout`` is killed with SIGKILL.
    ///
    /// - Throws: `.timeout` when the process could neither be stopped nor found to be killed.
    public func deleteDevice(named name: String) async throws {
        try validateInterfaceName(name)
        let path = socketPath(for: name)
        let connection: UAPIConnection
        switch try UAPIConnection.dial(path, timeout: configuration.ioTimeout) {
        case .missing:
            return
        case .stale:
            try removeStaleSocket(path)
            return
        case .connected(let open):
            connection = open
        }
        // Found before the unlink, while the socket can still be matched to its process.
        let pid = WireGuardGoProcess.daemonPID(socketPath: path, commandName: commandName)
        guard unlink(path) == 0 || errno == ENOENT else {
            throw MeshError(.unavailable, "cannot remove \(path)", errno: errno)
        }
        if await connection.waitForClose(until: .now + configuration.shutdownTimeout) {
            log("deleted device \(name)")
            return
        }
        guard let pid else {
            throw MeshError(.timeout, "wireguard-go for \(name) did not exit after its socket was removed, and its process could not be found")
        }
        kill(pid, SIGKILL)
        if await connection.waitForClose(until: .now + .seconds(2)) || WireGuardGoProcess.hasExited(pid) {
            log("killed wireguard-go (pid \(pid)) for \(name): it did not exit within \(configuration.shutdownTimeout)")
            return
        }
        throw MeshError(.timeout, "wireguard-go (pid \(pid)) for \(name) did not exit even after SIGKILL")
    }

    // MARK: -

    /// What is at a device's socket path, without the connection (which is not Sendable).
    private enum SocketState: Sendable { case answering, stale, missing }

    private var commandName: String {
        configuration.executable.map { String($0.split(separator: "/").last ?? "wireguard-go") } ?? "wireguard-go"
    }

    private func read(name: String, over connection: UAPIConnection) throws(MeshError) -> DeviceState {
        let sent = try connection.send(Array("get=1\n\n".utf8))
        if case .closedByPeer(let e) = sent {
            throw MeshError(.unavailable, "wireguard-go closed \(connection.path) before get=1 was sent", errno: e)
        }
        var reply = try connection.receiveReply()
        defer { wipe(&reply) }
        return try UAPI.decodeGet(reply, name: name)
    }

    /// Polls until the new device answers `get=1` properly, which is when wireguard-go's daemon
    /// has taken over the socket the launcher created.
    private func waitUntilAnswering(name: String, path: String, deadline: ContinuousClock.Instant) async throws {
        var lastProblem = "its socket \(path) never appeared"
        while true {
            do {
                switch try UAPIConnection.dial(path, timeout: configuration.ioTimeout) {
                case .connected(let connection):
                    _ = try read(name: name, over: connection)
                    return
                case .missing: lastProblem = "its socket \(path) never appeared"
                case .stale: lastProblem = "nothing listens on \(path)"
                }
            } catch {
                lastProblem = error.description
            }
            guard ContinuousClock.now < deadline else {
                throw MeshError(.timeout, "wireguard-go for \(name) did not start within \(configuration.startupTimeout): \(lastProblem)")
            }
            try await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Removes a socket file that refused connections. Refuses to remove anything that is not
    /// a socket: whatever it is, it is not ours.
    private func removeStaleSocket(_ path: String) throws(MeshError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw MeshError(.invalidArgument, "\(path) exists but is not a socket; remove it by hand if it is not needed")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            throw MeshError(.unavailable, "cannot remove the stale socket \(path)", errno: errno)
        }
    }

    private func log(_ line: String) {
        configuration.log?(line)
    }
}
