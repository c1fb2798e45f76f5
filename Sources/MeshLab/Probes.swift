import Foundation
import Glibc
import MeshCore

/// What `ping` reported.
public struct PingResult: Hashable, Sendable, CustomStringConvertible {
    public let transmitted: Int
    public let received: Int
    /// ping's own output, for failure messages.
    public let output: String

    /// 0 … 1; 1 when nothing could be sent (an unreachable network).
    public var loss: Double {
        transmitted == 0 ? 1 : Double(max(0, transmitted - received)) / Double(transmitted)
    }

    public var description: String {
        "\(transmitted) transmitted, \(received) received, \(Int((loss * 100).rounded()))% loss"
    }
}

/// What a sustained TCP stream delivered (see ``Lab/tcpStream(from:to:port:marker:duration:every:timeout:)``).
public struct TCPStreamResult: Hashable, Sendable, CustomStringConvertible {
    /// Markers written by the sender.
    public let markersSent: Int
    /// Bytes the receiver read before end of stream.
    public let bytesReceived: Int
    /// True when the receiver read exactly the markers sent, byte for byte, in order.
    public let intact: Bool

    public var description: String {
        "\(markersSent) markers sent, \(bytesReceived) bytes received, \(intact ? "intact" : "NOT intact")"
    }
}

extension Lab {
    /// Pings `address` from `place` (usually a pod) with iputils ping: `count` echo requests
    /// `interval` apart, then up to `replyTimeout` for the last replies.
    ///
    /// Loss is a result, not an error, and so is a network that is unreachable from `place`
    /// (reported as nothing transmitted, loss 1). Errors: `.invalidArgument` for a count outside
    /// 1...10000, an interval under 2 ms or a non-IPv4 address; `.timeout` if ping hangs;
    /// `.backendFailure` when ping's output cannot be understood.
    public func ping(from place: some LabPlace, to address: IPAddress, count: Int = 3,
                     interval: Duration = .milliseconds(50),
                     replyTimeout: Duration = LabTime.scaled(.seconds(1))) throws(MeshError) -> PingResult {
        guard (1...10000).contains(count) else { throw MeshError(.invalidArgument, "ping count \(count) is not in 1...10000") }
        guard interval >= .milliseconds(2) else { throw MeshError(.invalidArgument, "ping interval \(interval) is under 2 ms") }
        guard address.family == .inet else { throw MeshError(.invalidArgument, "the lab is IPv4 only, not \(address)") }
        let seconds = Double(interval.components.seconds) + Double(interval.components.attoseconds) / 1e18
        let wait = max(1, Int((Double(replyTimeout.components.seconds)
                               + Double(replyTimeout.components.attoseconds) / 1e18).rounded(.up)))
        let budget = interval * count + .seconds(wait + 10)
        let result = try run(in: place, [tools.ping, "-n", "-q", "-c", "\(count)",
                                         "-i", String(format: "%.3f", seconds), "-W", "\(wait)", "\(address)"],
                             timeout: budget)
        return try Self.parsePing(result)
    }

    /// Reads "N packets transmitted, M received, …" from ping's summary.
    static func parsePing(_ result: CommandResult) throws(MeshError) -> PingResult {
        let output = result.stdout + result.stderr
        for line in output.split(separator: "\n") where line.contains(" packets transmitted, ") {
            let parts = line.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count >= 2,
               let sent = parts[0].split(separator: " ").first.flatMap({ Int($0) }),
               let got = parts[1].split(separator: " ").first.flatMap({ Int($0) }) {
                return PingResult(transmitted: sent, received: got, output: output)
            }
        }
        // iputils exits 2 without a summary when it cannot send at all ("connect: Network is
        // unreachable"): nothing was transmitted.
        if result.status == .exited(2) {
            return PingResult(transmitted: 0, received: 0, output: output)
        }
        throw MeshError(.backendFailure, "cannot read ping's summary (\(result.status)): \(output)")
    }

    /// Sends `payload` over one TCP connection from `source` to `destination`:`port` and returns
    /// the bytes the receiver read until the sender closed. Equal to `payload` when delivery
    /// worked.
    ///
    /// Both ends are sockets of this process, each created inside its pod's (or node's) network
    /// namespace by a short-lived thread that entered it, so no tool is needed in the
    /// namespaces; on the wire it is an ordinary TCP connection between the two addresses.
    ///
    /// Errors: `.timeout` when the transfer does not finish in `timeout` (e.g. packets are
    /// dropped); `.unavailable` when the connection is refused or the host is unreachable;
    /// `.backendFailure` when the port cannot be bound at the destination.
    public func tcpTransfer(from source: some LabHost, to destination: some LabHost, port: UInt16,
                            payload: [UInt8], timeout: Duration = LabTime.scaled(.seconds(10))) throws(MeshError) -> [UInt8] {
        try checkAlive()
        let outcome = try TCPDriver.run(from: source, to: destination, port: port, chunk: payload,
                                        schedule: nil, keepBytes: true, timeout: timeout)
        return outcome.bytes
    }

    /// Keeps one TCP connection from `source` to `destination`:`port` busy for `duration`,
    /// writing `marker` every `every` (with TCP_NODELAY, so each marker leaves in its own
    /// segment and a capture sees it whole), then closes and waits for the receiver to drain.
    /// Meant to run while a capture is on. Errors as for ``tcpTransfer(from:to:port:payload:timeout:)``;
    /// `timeout` bounds the whole call and must exceed `duration`.
    public func tcpStream(from source: some LabHost, to destination: some LabHost, port: UInt16,
                          marker: [UInt8], duration: Duration, every: Duration = .milliseconds(20),
                          timeout: Duration? = nil) throws(MeshError) -> TCPStreamResult {
        try checkAlive()
        guard !marker.isEmpty else { throw MeshError(.invalidArgument, "the stream marker is empty") }
        guard every > .zero else { throw MeshError(.invalidArgument, "the stream interval must be positive") }
        let outcome = try TCPDriver.run(from: source, to: destination, port: port, chunk: marker,
                                        schedule: (every: every, duration: duration), keepBytes: false,
                                        timeout: timeout ?? duration + LabTime.scaled(.seconds(10)))
        return TCPStreamResult(markersSent: outcome.chunksSent, bytesReceived: outcome.received,
                               intact: outcome.intact && outcome.received == outcome.chunksSent * marker.count)
    }
}

/// One TCP connection between two namespaces, driven by poll(2) on the calling thread: the
/// sender, the listener and the accepted receiver are all non-blocking descriptors of this
/// process, so sending and receiving interleave without threads.
enum TCPDriver {
    struct Outcome {
        var chunksSent = 0
        var received = 0
        var bytes: [UInt8] = []
        /// Every received byte matched the chunk pattern.
        var intact = true
    }

    static func run(from source: some LabHost, to destination: some LabHost, port: UInt16, chunk: [UInt8],
                    schedule: (every: Duration, duration: Duration)?, keepBytes: Bool,
                    timeout: Duration) throws(MeshError) -> Outcome {
        guard case .v4(let destinationV4) = destination.address, source.address.family == .inet else {
            throw MeshError(.invalidArgument, "the lab is IPv4 only")
        }
        let what = "TCP from \(source.address) to \(destination.address):\(port)"
        let listener = try Netns.onThread(in: destination.namespace.path) { () throws(MeshError) -> Int32 in
            let fd = try socketFD()
            var one: Int32 = 1
            setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            var address = socketAddress(destinationV4, port)
            let rc = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard rc == 0, listen(fd, 4) == 0 else {
                let error = Subprocess.errnoError("\(what): cannot listen at the destination")
                close(fd)
                throw error
            }
            return fd
        }
        defer { close(listener) }
        let client = try Netns.onThread(in: source.namespace.path) { () throws(MeshError) -> Int32 in try socketFD() }
        defer { close(client) }
        var one: Int32 = 1
        setsockopt(client, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
        var address = socketAddress(destinationV4, port)
        let rc = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(client, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if rc != 0 && errno != EINPROGRESS { throw Subprocess.errnoError("\(what): connect", code: .unavailable) }

        var server: Int32 = -1
        defer { if server >= 0 { close(server) } }
        var outcome = Outcome()
        var connected = false
        var pending: ArraySlice<UInt8> = []
        var closedSending = false
        let start = ContinuousClock.now
        let deadline = start + timeout
        var nextChunk = start
        let stopSending = schedule.map { start + $0.duration }
        var buffer = [UInt8](repeating: 0, count: 65536)

        while true {
            let now = ContinuousClock.now
            guard now < deadline else {
                throw MeshError(.timeout, "\(what) did not finish within \(timeout): "
                    + "\(outcome.chunksSent) chunks sent, \(outcome.received) bytes received, connected: \(connected)")
            }
            // Queue the next chunk when it is due; close the sending side when all is written.
            if connected && !closedSending && pending.isEmpty {
                if let schedule, let stopSending {
                    if now >= stopSending {
                        shutdown(client, Int32(SHUT_WR))
                        closedSending = true
                    } else if now >= nextChunk {
                        pending = chunk[...]
                        outcome.chunksSent += 1
                        nextChunk = nextChunk + schedule.every
                    }
                } else if outcome.chunksSent == 0 && !chunk.isEmpty {
                    pending = chunk[...]
                    outcome.chunksSent = 1
                } else {
                    shutdown(client, Int32(SHUT_WR))
                    closedSending = true
                }
                if !pending.isEmpty || closedSending { continue }
            }
            var fds: [pollfd] = []
            if server < 0 { fds.append(pollfd(fd: listener, events: Int16(POLLIN), revents: 0)) }
            if !connected || !pending.isEmpty { fds.append(pollfd(fd: client, events: Int16(POLLOUT), revents: 0)) }
            if server >= 0 { fds.append(pollfd(fd: server, events: Int16(POLLIN), revents: 0)) }
            var wait = min(deadline, now + .milliseconds(100))
            if connected, !closedSending, pending.isEmpty, schedule != nil { wait = min(wait, nextChunk) }
            let ms = max(0, Int32((wait - now).components.seconds * 1000 + (wait - now).components.attoseconds / 1_000_000_000_000_000))
            _ = poll(&fds, nfds_t(fds.count), ms)

            for entry in fds where entry.revents != 0 {
                if entry.fd == listener {
                    let fd = GNU.acceptNonBlocking(listener)
                    if fd >= 0 { server = fd }
                } else if entry.fd == client {
                    if !connected {
                        var error: Int32 = 0
                        var length = socklen_t(MemoryLayout<Int32>.size)
                        getsockopt(client, SOL_SOCKET, SO_ERROR, &error, &length)
                        if error != 0 {
                            throw MeshError(.unavailable, "\(what): connect: \(String(cString: strerror(error)))", errno: error)
                        }
                        connected = true
                        continue
                    }
                    let n = pending.withUnsafeBytes { send(client, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
                    if n > 0 {
                        pending = pending.dropFirst(n)
                    } else if n < 0 && errno != EAGAIN && errno != EINTR {
                        throw Subprocess.errnoError("\(what): send", code: .unavailable)
                    }
                } else if entry.fd == server {
                    while true {
                        let n = buffer.withUnsafeMutableBytes { recv(server, $0.baseAddress, $0.count, 0) }
                        if n > 0 {
                            for i in 0..<n where !chunk.isEmpty && buffer[i] != chunk[(outcome.received + i) % chunk.count] {
                                outcome.intact = false
                                break
                            }
                            if keepBytes { outcome.bytes += buffer[0..<n] }
                            outcome.received += n
                        } else if n == 0 {
                            return outcome
                        } else if errno == EINTR {
                            continue
                        } else if errno == EAGAIN {
                            break
                        } else {
                            throw Subprocess.errnoError("\(what): receive", code: .unavailable)
                        }
                    }
                }
            }
        }
    }

    private static func socketFD() throws(MeshError) -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw Subprocess.errnoError("socket") }
        return fd
    }

    static func socketAddress(_ address: UInt32, _ port: UInt16) -> sockaddr_in {
        var result = sockaddr_in()
        result.sin_family = sa_family_t(AF_INET)
        result.sin_port = port.bigEndian
        result.sin_addr = in_addr(s_addr: address.bigEndian)
        return result
    }
}
