import CLibMNL

/// Builds one request message with libmnl's put functions. Pure: no socket, no I/O, so each
/// request can be compared byte for byte with a golden message in tests.
///
/// The sequence number and port id are left 0; ``NetlinkSocket`` stamps the sequence when it
/// sends. Every put is size-checked (libmnl's `*_check` variants) and throws
/// `.messageTooLarge` instead of writing past the buffer, which is what a caller that splits a
/// big generic netlink request into several messages needs: catch it, ``cancelNest(_:)``
/// the partial nest, send, and continue in a new request.
public struct NetlinkRequest: Sendable {
    /// The start of a nested attribute opened with ``beginNest(_:)``. An offset, not a pointer,
    /// so it stays valid when the request value is copied.
    public struct Nest: Sendable {
        fileprivate let offset: Int
    }

    private var buffer: [UInt8]
    private var hasAttributes = false

    /// Starts a message of `type` with `flags`. `capacity` bounds the whole message.
    public init(type: UInt16, flags: NetlinkFlags, capacity: Int = Int(cmnl_socket_buffer_size())) {
        precondition(capacity >= NetlinkMessage.headerLength, "a netlink message needs at least its header")
        buffer = [UInt8](repeating: 0, count: capacity)
        withMessage { message, _ in
            let header = mnl_nlmsg_put_header(UnsafeMutableRawPointer(message))!
            header.pointee.nlmsg_type = type
            header.pointee.nlmsg_flags = flags.rawValue
        }
    }

    /// The message so far, `nlmsg_len` bytes.
    public var bytes: [UInt8] { Array(buffer[..<length]) }

    /// `nlmsg_len`: the header, the family header and the attributes so far.
    public var length: Int { Int(buffer.withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }) }

    /// Appends the fixed family header (`ifinfomsg`, `rtmsg`, `fib_rule_hdr`, `genlmsghdr`, …),
    /// zero-padded to 4 bytes. Must come before any attribute.
    public mutating func appendHeader<Header: BitwiseCopyable>(_ header: Header) throws(NetlinkError) {
        precondition(!hasAttributes, "the family header goes before the attributes")
        let size = MemoryLayout<Header>.size
        guard length + alignedLength(size) <= buffer.count else { throw tooLarge("family header") }
        withMessage { message, _ in
            let destination = mnl_nlmsg_put_extra_header(message, size)!
            withUnsafeBytes(of: header) { destination.copyMemory(from: $0.baseAddress!, byteCount: size) }
        }
    }

    public mutating func put(_ type: UInt16, u8 value: UInt8) throws(NetlinkError) {
        try checked(type) { mnl_attr_put_u8_check($0, $1, type, value) }
    }

    public mutating func put(_ type: UInt16, u16 value: UInt16) throws(NetlinkError) {
        try checked(type) { mnl_attr_put_u16_check($0, $1, type, value) }
    }

    public mutating func put(_ type: UInt16, u32 value: UInt32) throws(NetlinkError) {
        try checked(type) { mnl_attr_put_u32_check($0, $1, type, value) }
    }

    public mutating func put(_ type: UInt16, u64 value: UInt64) throws(NetlinkError) {
        try checked(type) { mnl_attr_put_u64_check($0, $1, type, value) }
    }

    /// A string attribute with its terminating NUL (`mnl_attr_put_strz`), as the kernel's
    /// `NLA_NUL_STRING` policies require and its `NLA_STRING` policies accept.
    public mutating func put(_ type: UInt16, string value: String) throws(NetlinkError) {
        try checked(type) { message, capacity in
            value.withCString { mnl_attr_put_strz_check(message, capacity, type, $0) }
        }
    }

    public mutating func put(_ type: UInt16, bytes value: [UInt8]) throws(NetlinkError) {
        try checked(type) { message, capacity in
            value.withUnsafeBytes { mnl_attr_put_check(message, capacity, type, $0.count, $0.baseAddress) }
        }
    }

    /// Opens a nested attribute; libmnl sets `NLA_F_NESTED`, which generic netlink requires.
    public mutating func beginNest(_ type: UInt16) throws(NetlinkError) -> Nest {
        let offset = length
        try checked(type) { mnl_attr_nest_start_check($0, $1, type) != nil }
        return Nest(offset: offset)
    }

    /// Closes a nest: fixes up its length to cover everything put since ``beginNest(_:)``.
    public mutating func endNest(_ nest: Nest) {
        withMessage { message, _ in
            mnl_attr_nest_end(message, Self.attribute(at: nest.offset, in: message))
        }
    }

    /// Drops a nest and everything put inside it, as if ``beginNest(_:)`` had not been called.
    public mutating func cancelNest(_ nest: Nest) {
        withMessage { message, _ in
            mnl_attr_nest_cancel(message, Self.attribute(at: nest.offset, in: message))
        }
    }

    // MARK: private

    private mutating func checked(_ type: UInt16,
                                  _ put: (UnsafeMutablePointer<nlmsghdr>, Int) -> Bool) throws(NetlinkError) {
        hasAttributes = true
        guard withMessage(put) else { throw tooLarge("attribute type \(type)") }
    }

    private func tooLarge(_ what: String) -> NetlinkError {
        NetlinkError(.messageTooLarge, "\(what) does not fit: message has \(length) of \(buffer.count) bytes")
    }

    /// Hands libmnl the buffer as a `struct nlmsghdr *`. `OpaquePointer` is the C-interop cast:
    /// the bytes are only ever read and written through C.
    private mutating func withMessage<R>(_ body: (UnsafeMutablePointer<nlmsghdr>, Int) -> R) -> R {
        buffer.withUnsafeMutableBytes { raw in
            body(UnsafeMutablePointer<nlmsghdr>(OpaquePointer(raw.baseAddress!)), raw.count)
        }
    }

    private static func attribute(at offset: Int, in message: UnsafeMutablePointer<nlmsghdr>) -> UnsafeMutablePointer<nlattr> {
        UnsafeMutablePointer<nlattr>(OpaquePointer(UnsafeMutableRawPointer(message) + offset))
    }
}
