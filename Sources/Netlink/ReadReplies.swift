import CLibMNL

/// Collects the replies to one request, buffer by buffer, until its terminal message. Pure, so
/// tests feed it captured bytes.
///
/// It does what `mnl_cb_run` does (port id and sequence checks, `NLMSG_ERROR` → errno,
/// `NLMSG_DONE` ends a dump, `NLM_F_DUMP_INTR` noticed) with two differences that keep one
/// long-lived socket usable:
/// - An interrupted dump is read on to its `NLMSG_DONE`. `mnl_cb_run` returns `EINTR` at the
///   first interrupted part and leaves the rest of the dump queued on the socket, where it
///   would fail the sequence check of the next request. Here the reader flags
///   ``interrupted`` and the caller retries the whole dump afterwards.
/// - Messages with another sequence number are skipped, not errors: they are late replies to
///   an earlier request that was abandoned (a receive timeout, a truncated buffer).
package struct ReplyReader {
    package enum Outcome: Equatable, Sendable {
        /// `NLMSG_ERROR` with error 0 (an ack), or `NLMSG_DONE` with no error.
        case completed
        case failed(NetlinkError)
    }

    package let sequence: UInt32
    package let portID: UInt32
    /// The data messages (type ≥ `NLMSG_MIN_TYPE`) in arrival order.
    package private(set) var messages: [NetlinkMessage] = []
    /// Set when any part of the reply carried `NLM_F_DUMP_INTR`.
    package private(set) var interrupted = false
    /// Nil while more replies are due.
    package private(set) var outcome: Outcome?

    package init(sequence: UInt32, portID: UInt32) {
        self.sequence = sequence
        self.portID = portID
    }

    /// Reads the messages in one received buffer.
    /// - Throws: `.malformedMessage` when the buffer does not split into messages.
    package mutating func consume(_ bytes: UnsafeRawBufferPointer) throws(NetlinkError) {
        for message in try NetlinkMessage.split(bytes) {
            guard outcome == nil else { return }
            // The kernel stamps the requester's port id; 0 would be a kernel-originated message.
            guard message.sequence == sequence, message.portID == portID || message.portID == 0 else { continue }
            if NetlinkFlags(rawValue: message.flags).contains(.dumpInterrupted) { interrupted = true }
            switch Int32(message.type) {
            case NLMSG_ERROR:
                outcome = Self.outcome(ofError: message)
            case NLMSG_DONE:
                outcome = Self.outcome(ofDone: message)
            case NLMSG_OVERRUN:
                outcome = .failed(NetlinkError(.malformedMessage, "kernel reported NLMSG_OVERRUN (data lost)"))
            case NLMSG_MIN_TYPE...:
                messages.append(message)
            default:
                continue  // NLMSG_NOOP and reserved control types carry nothing for us.
            }
        }
    }

    package mutating func consume(_ bytes: [UInt8]) throws(NetlinkError) {
        try bytes.withBytes { (raw) throws(NetlinkError) in try consume(raw) }
    }

    /// `struct nlmsgerr { int error; struct nlmsghdr msg; }`, then the echoed request unless
    /// capped, then extended-ack attributes if `NLM_F_ACK_TLVS`.
    private static func outcome(ofError message: NetlinkMessage) -> Outcome {
        guard message.payload.count >= 4 else {
            return .failed(NetlinkError(.malformedMessage, "NLMSG_ERROR with \(message.payload.count) payload bytes"))
        }
        let code = message.payload.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        if code == 0 { return .completed }
        let flags = NetlinkFlags(rawValue: message.flags)
        var echoed = NetlinkMessage.headerLength
        if !flags.contains(.capped), message.payload.count >= 4 + NetlinkMessage.headerLength {
            echoed = Int(message.payload.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 4, as: UInt32.self) })
        }
        return .failed(kernelError(code, message: message, tlvOffset: alignedLength(4 + echoed)))
    }

    /// `NLMSG_DONE` carries an `int`: 0, or the error that ended the dump early. Generic
    /// netlink families (WireGuard's among them) use it to report dump failures.
    private static func outcome(ofDone message: NetlinkMessage) -> Outcome {
        guard message.payload.count >= 4 else { return .completed }
        let code = message.payload.withUnsafeBytes { $0.loadUnaligned(as: Int32.self) }
        return code == 0 ? .completed : .failed(kernelError(code, message: message, tlvOffset: 4))
    }

    /// Subsystems disagree on the sign of the errno they report (rtnetlink sends `-ENODEV`,
    /// some generic netlink families a positive value); both mean the same error.
    private static func kernelError(_ code: Int32, message: NetlinkMessage, tlvOffset: Int) -> NetlinkError {
        let errno = Errno(rawValue: Int32(truncatingIfNeeded: code.magnitude))
        var text: String?
        if NetlinkFlags(rawValue: message.flags).contains(.ackTLVs), tlvOffset < message.payload.count,
           let tlvs = try? NetlinkAttributes(parsing: message.payload[tlvOffset...]) {
            text = tlvs.string(UInt16(NLMSGERR_ATTR_MSG.rawValue))
        }
        return NetlinkError(.kernelRejected, "netlink request", errno: errno, kernelMessage: text)
    }
}
