/// A failure of the netlink layer: the kernel rejected a request, a system call failed, or a
/// reply could not be read.
///
/// The kernel's verdict is in ``errno`` (always positive, whatever sign the kernel used) and,
/// when the kernel supports extended acks, a human ``kernelMessage`` such as
/// "Nexthop device is not up". Callers translate these at their own boundary.
public struct NetlinkError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Storage: Hashable, Sendable {
            case kernelRejected, systemCallFailed, dumpInterrupted, malformedMessage, messageTooLarge, timeout
        }
        private let storage: Storage
        private init(_ storage: Storage) { self.storage = storage }

        /// The kernel answered with `NLMSG_ERROR` (or an `NLMSG_DONE` carrying an error).
        public static let kernelRejected = Code(.kernelRejected)
        /// A system call (`socket`, `bind`, `setns`, `sendto`, `recvfrom`, …) failed.
        public static let systemCallFailed = Code(.systemCallFailed)
        /// Every attempt of a dump was interrupted by concurrent changes (`NLM_F_DUMP_INTR`).
        public static let dumpInterrupted = Code(.dumpInterrupted)
        /// A reply or attribute is shorter than its header says, or an attribute has the wrong size.
        public static let malformedMessage = Code(.malformedMessage)
        /// A request does not fit the builder's buffer. Callers that split big requests catch
        /// this, cancel the partial nest and start the next message.
        public static let messageTooLarge = Code(.messageTooLarge)
        /// No reply arrived within the socket's receive timeout.
        public static let timeout = Code(.timeout)

        public var description: String { "\(storage)" }
    }

    public let code: Code
    /// What was being done, e.g. "recvfrom" or "setns into /var/run/netns/x".
    public let detail: String
    public let errno: Errno?
    /// The kernel's extended-ack text (`NLMSGERR_ATTR_MSG`), when it sent one.
    public let kernelMessage: String?

    public init(_ code: Code, _ detail: String, errno: Errno? = nil, kernelMessage: String? = nil) {
        self.code = code
        self.detail = detail
        self.errno = errno
        self.kernelMessage = kernelMessage
    }

    public var description: String {
        var text = detail
        if let errno { text += ": \(errno) (errno \(errno.rawValue))" }
        if let kernelMessage { text += "; kernel: \(kernelMessage)" }
        return text
    }
}
