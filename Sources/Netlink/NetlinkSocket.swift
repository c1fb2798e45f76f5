import CLibMNL
import Glibc

/// A bound netlink socket (libmnl's `struct mnl_socket`) with request/ack and dump helpers.
///
/// A non-copyable struct rather than a class: the socket has exactly one owner, the compiler
/// rejects copies, and `deinit` closes it exactly once, with no reference counting and no
/// way to use it after close. It is not `Sendable`; an owner that is shared between tasks (an
/// actor, a `Mutex`) serializes its use, which netlink needs anyway because replies are
/// matched to requests by sequence number on one socket.
///
/// Calls block the calling thread until the kernel answers (microseconds for rtnetlink; a
/// receive timeout bounds the wait).
public struct NetlinkSocket: ~Copyable {
    /// The netlink protocol family given to `socket(2)`.
    public struct Bus: Hashable, Sendable {
        public let rawValue: Int32
        public init(rawValue: Int32) { self.rawValue = rawValue }
        /// `NETLINK_ROUTE`: links, addresses, routes, rules.
        public static let route = Bus(rawValue: NETLINK_ROUTE)
        /// `NETLINK_GENERIC`: families such as "wireguard", resolved with `CTRL_CMD_GETFAMILY`.
        public static let generic = Bus(rawValue: NETLINK_GENERIC)
    }

    /// The kernel sizes each dump part from the largest `recvmsg` buffer seen on the socket,
    /// capped at 32 KiB (`netlink_recvmsg`: `max_recvmsg_len`), so this size gets the biggest
    /// parts (fewer round trips) and is never truncated (`MSG_TRUNC`, libmnl's `ENOSPC`).
    public static let receiveBufferSize = 32 * 1024

    /// How many times ``dump(_:maxAttempts:)`` starts over after `NLM_F_DUMP_INTR` by default.
    public static let defaultDumpAttempts = 8

    private let handle: OpaquePointer  // struct mnl_socket *
    private let receiveBuffer: UnsafeMutableRawBufferPointer
    /// The port id the kernel assigned at bind (autopid).
    public let portID: UInt32
    private var lastSequence: UInt32 = 0

    /// Opens and binds a socket on `bus`, in the network namespace at `networkNamespacePath`
    /// (nil: the calling thread's namespace).
    ///
    /// - Throws: `.systemCallFailed` with `ENOENT` for a missing namespace path, `EPERM` without
    ///   the needed capability, `EPROTONOSUPPORT` for a bus this kernel lacks.
    public init(bus: Bus, networkNamespacePath: String? = nil,
                receiveTimeout: Duration = .seconds(30)) throws(NetlinkError) {
        let opened: (handle: OpaquePointer, portID: UInt32)
        if let path = networkNamespacePath {
            // The socket is created inside the target namespace and stays bound to it after
            // the thread switches back (see withNetworkNamespace).
            opened = try withNetworkNamespace(path) { () throws(NetlinkError) in
                try Self.open(bus: bus, receiveTimeout: receiveTimeout)
            }
        } else {
            opened = try Self.open(bus: bus, receiveTimeout: receiveTimeout)
        }
        handle = opened.handle
        portID = opened.portID
        receiveBuffer = .allocate(byteCount: Self.receiveBufferSize, alignment: 4)
    }

    deinit {
        mnl_socket_close(handle)
        receiveBuffer.deallocate()
    }

    /// Sends a request and waits for its acknowledgement. `NLM_F_REQUEST | NLM_F_ACK` are set
    /// whatever `message` says, and the socket's next sequence number is stamped in.
    ///
    /// - Returns: the data messages that came before the ack (e.g. the link a `RTM_GETLINK`
    ///   by name asked for, a `CTRL_CMD_GETFAMILY` answer); empty for most mutating requests.
    /// - Throws: `.kernelRejected` with the kernel's errno (positive) for `NLMSG_ERROR`;
    ///   `.timeout`; `.systemCallFailed`; `.malformedMessage`.
    @discardableResult
    public mutating func request(_ message: [UInt8]) throws(NetlinkError) -> [NetlinkMessage] {
        let reader = try exchange(message, adding: [.request, .acknowledge])
        if case .failed(let error) = reader.outcome { throw error }
        return reader.messages
    }

    /// Sends a dump request (`NLM_F_REQUEST | NLM_F_DUMP` are set) and collects every data
    /// message up to `NLMSG_DONE`.
    ///
    /// When the kernel marks the dump inconsistent (`NLM_F_DUMP_INTR`: the objects changed
    /// while it was being read) the partial result is thrown away and the whole dump is sent
    /// again, up to `maxAttempts` times in all.
    /// - Throws: `.dumpInterrupted` when every attempt was interrupted; otherwise as
    ///   ``request(_:)`` (an error in `NLMSG_DONE` is `.kernelRejected`).
    public mutating func dump(_ message: [UInt8],
                              maxAttempts: Int = defaultDumpAttempts) throws(NetlinkError) -> [NetlinkMessage] {
        try retryingInterruptedDump(maxAttempts: maxAttempts) { () throws(NetlinkError) in
            let reader = try exchange(message, adding: [.request, .dump])
            if case .failed(let error) = reader.outcome { throw error }
            return DumpAttempt(messages: reader.messages, interrupted: reader.interrupted)
        }
    }

    // MARK: I/O

    private mutating func exchange(_ message: [UInt8], adding flags: NetlinkFlags) throws(NetlinkError) -> ReplyReader {
        let sequence = nextSequence()
        var stamped = Self.stamp(message, sequence: sequence, adding: flags)
        // Requests and replies may carry secrets (a WireGuard private key, both ways). The
        // caller wipes its own arrays; these copies are the socket's, so it wipes them.
        defer { stamped.withUnsafeMutableBytes { explicit_bzero($0.baseAddress!, $0.count) } }
        let sent = stamped.withUnsafeBytes { mnl_socket_sendto(handle, $0.baseAddress, $0.count) }
        guard sent >= 0 else { throw Self.systemError("sendto", .current) }
        var reader = ReplyReader(sequence: sequence, portID: portID)
        while reader.outcome == nil {
            let received = mnl_socket_recvfrom(handle, receiveBuffer.baseAddress, receiveBuffer.count)
            guard received >= 0 else {
                let errno = Errno.current
                if errno == .interrupted { continue }  // a signal, not the kernel: read again
                if errno == .wouldBlock {
                    throw NetlinkError(.timeout, "no netlink reply to sequence \(sequence)", errno: errno)
                }
                throw Self.systemError("recvfrom", errno)
            }
            defer { explicit_bzero(receiveBuffer.baseAddress!, received) }
            try reader.consume(UnsafeRawBufferPointer(rebasing: receiveBuffer[..<received]))
        }
        return reader
    }

    private mutating func nextSequence() -> UInt32 {
        lastSequence &+= 1
        if lastSequence == 0 { lastSequence = 1 }  // 0 matches anything in libmnl's checks
        return lastSequence
    }

    /// Returns `message` with `flags` added to `nlmsg_flags` and `sequence` in `nlmsg_seq`.
    package static func stamp(_ message: [UInt8], sequence: UInt32, adding flags: NetlinkFlags) -> [UInt8] {
        precondition(message.count >= NetlinkMessage.headerLength, "a netlink request needs its 16-byte header")
        var out = message
        out.withUnsafeMutableBytes { raw in
            precondition(Int(raw.loadUnaligned(as: UInt32.self)) == raw.count, "nlmsg_len must match the request's size")
            let existing = NetlinkFlags(rawValue: raw.loadUnaligned(fromByteOffset: 6, as: UInt16.self))
            raw.storeBytes(of: existing.union(flags).rawValue, toByteOffset: 6, as: UInt16.self)
            raw.storeBytes(of: sequence, toByteOffset: 8, as: UInt32.self)
        }
        return out
    }

    private static func open(bus: Bus, receiveTimeout: Duration) throws(NetlinkError) -> (handle: OpaquePointer, portID: UInt32) {
        // SOCK_CLOEXEC: the agent spawns helpers (wireguard-go) that must not inherit the socket.
        guard let handle = mnl_socket_open2(bus.rawValue, Int32(SOCK_CLOEXEC.rawValue)) else {
            throw systemError("socket(AF_NETLINK, \(bus.rawValue))", .current)
        }
        guard mnl_socket_bind(handle, 0, pid_t(MNL_SOCKET_AUTOPID)) == 0 else {
            let error = systemError("bind netlink socket", .current)
            mnl_socket_close(handle)
            throw error
        }
        // Extended acks give a reason with the errno ("Nexthop device is not up"); capped acks
        // stop the kernel echoing the whole request back in every error. Both are optional:
        // kernels before 4.12 / 4.3 refuse the option and simply behave as before.
        var on: Int32 = 1
        _ = mnl_socket_setsockopt(handle, NETLINK_EXT_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        _ = mnl_socket_setsockopt(handle, NETLINK_CAP_ACK, &on, socklen_t(MemoryLayout<Int32>.size))
        let (seconds, attoseconds) = receiveTimeout.components
        var timeout = timeval(tv_sec: Int(seconds), tv_usec: Int(attoseconds / 1_000_000_000_000))
        if setsockopt(mnl_socket_get_fd(handle), SOL_SOCKET, SO_RCVTIMEO, &timeout,
                      socklen_t(MemoryLayout<timeval>.size)) != 0 {
            let error = systemError("setsockopt SO_RCVTIMEO", .current)
            mnl_socket_close(handle)
            throw error
        }
        return (handle, mnl_socket_get_portid(handle))
    }

    /// `EBADF`/`EFAULT` can only mean a bug here (a closed descriptor, a bad pointer), never a
    /// property of the environment, so they stop the process instead of being handled.
    private static func systemError(_ call: String, _ errno: Errno) -> NetlinkError {
        if errno == .badFileDescriptor || errno == .badAddress {
            preconditionFailure("\(call) failed with \(errno): a bug in the netlink layer")
        }
        return NetlinkError(.systemCallFailed, call, errno: errno)
    }
}
