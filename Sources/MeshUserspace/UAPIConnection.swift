import Glibc
import MeshCore

/// One connection to a UAPI socket. Every connect, read and write is bounded by `timeout`, so
/// a wireguard-go that hangs cannot hang the agent; each call blocks its thread for at most
/// that long. Not shareable: one request/response exchange at a time, from one task.
final class UAPIConnection {
    /// What dialling a socket path found.
    enum Dial {
        case connected(UAPIConnection)
        /// No socket file: there is no device.
        case missing
        /// A socket file nobody listens on (ECONNREFUSED): its wireguard-go died.
        case stale
    }

    let path: String
    private let fd: Int32

    private init(fd: Int32, path: String) {
        self.fd = fd
        self.path = path
    }

    deinit { close(fd) }

    /// Connects to the UAPI socket at `path`. Missing and stale sockets are results, not
    /// errors; a timeout or any other failure throws.
    static func dial(_ path: String, timeout: Duration) throws(MeshError) -> Dial {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard pathBytes.count < capacity else {
            throw MeshError(.invalidArgument, "the socket path \(path) is longer than \(capacity - 1) bytes")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: pathBytes) }

        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw MeshError(.unavailable, "cannot create a unix socket", errno: errno) }
        let connection = UAPIConnection(fd: fd, path: path)
        try connection.setTimeout(timeout)

        // For AF_UNIX, connect waits for room in the listener's backlog for at most
        // SO_SNDTIMEO and then fails with EAGAIN: that is the connect timeout.
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        if rc == 0 { return .connected(connection) }
        let e = errno
        switch e {
        case ENOENT: return .missing
        case ECONNREFUSED: return .stale
        case EAGAIN: throw MeshError(.timeout, "\(path) did not accept a connection within \(timeout)", errno: e)
        default: throw MeshError(.unavailable, "cannot connect to \(path)", errno: e)
        }
    }

    private func setTimeout(_ timeout: Duration) throws(MeshError) {
        let (seconds, attoseconds) = timeout.components
        var value = timeval(tv_sec: Int(max(seconds, 0)), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if value.tv_sec == 0 && value.tv_usec == 0 { value.tv_usec = 1 } // 0 would mean "forever"
        for option in [SO_RCVTIMEO, SO_SNDTIMEO] {
            guard setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size)) == 0 else {
                throw MeshError(.unavailable, "cannot set a timeout on the socket for \(path)", errno: errno)
            }
        }
    }

    /// Why a write stopped short.
    enum SendResult {
        case sent
        /// The peer closed the connection (EPIPE/ECONNRESET). wireguard-go does this after
        /// answering an error in the middle of a long `set`, so its reply may still be readable.
        case closedByPeer(errno: Int32)
    }

    /// Writes all of `bytes`. MSG_NOSIGNAL: a closed peer must not kill the agent with SIGPIPE.
    func send(_ bytes: [UInt8]) throws(MeshError) -> SendResult {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { raw in
                Glibc.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
            }
            if n >= 0 {
                offset += n
                continue
            }
            let e = errno
            switch e {
            case EINTR: continue
            case EPIPE, ECONNRESET: return .closedByPeer(errno: e)
            case EAGAIN: throw MeshError(.timeout, "wireguard-go stopped reading from \(path)", errno: e)
            default: throw MeshError(.unavailable, "cannot write to \(path)", errno: e)
            }
        }
        return .sent
    }

    /// Reads one reply: everything up to and including the blank line that ends it (a reply
    /// never contains an empty line before its end). The buffer is grown by hand so that an old,
    /// smaller copy of a reply holding the private key is wiped before it is freed; the caller
    /// wipes the result.
    func receiveReply(limit: Int = 256 << 20) throws(MeshError) -> [UInt8] {
        var reply = [UInt8](repeating: 0, count: 16 << 10)
        var length = 0
        while true {
            if length == reply.count {
                guard reply.count < limit else {
                    wipe(&reply)
                    throw MeshError(.backendFailure, "the reply from \(path) is larger than \(limit) bytes")
                }
                var bigger = [UInt8](repeating: 0, count: reply.count * 2)
                reply.withUnsafeBytes { old in
                    bigger.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(rebasing: old[0..<length])) }
                }
                wipe(&reply)
                reply = bigger
            }
            let n = reply.withUnsafeMutableBytes { raw in
                recv(fd, raw.baseAddress! + length, raw.count - length, 0)
            }
            if n > 0 {
                length += n
                if length >= 2 && reply[length - 1] == newline && reply[length - 2] == newline {
                    // Shrink in place: removeLast keeps the same storage, so nothing is copied.
                    reply.removeLast(reply.count - length)
                    return reply
                }
                continue
            }
            let e = n == 0 ? 0 : errno
            if e == EINTR { continue }
            wipe(&reply)
            switch e {
            case 0, ECONNRESET:
                throw MeshError(.unavailable, "wireguard-go closed \(path) without a complete reply")
            case EAGAIN:
                throw MeshError(.timeout, "wireguard-go did not answer on \(path) in time", errno: e)
            default:
                throw MeshError(.unavailable, "cannot read from \(path)", errno: e)
            }
        }
    }

    /// Waits until the other end closes the connection (the wireguard-go process has exited:
    /// its descriptors are closed only then). Returns false if it is still open at `deadline`.
    func waitForClose(until deadline: ContinuousClock.Instant) async -> Bool {
        var scratch = [UInt8](repeating: 0, count: 256)
        while ContinuousClock.now < deadline {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, 0)
            if ready > 0 {
                let n = scratch.withUnsafeMutableBytes { recv(fd, $0.baseAddress!, $0.count, Int32(MSG_DONTWAIT)) }
                if n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR) { return true }
                continue // stray bytes: keep draining
            }
            try? await Task.sleep(for: .milliseconds(10))
        }
        return false
    }
}
