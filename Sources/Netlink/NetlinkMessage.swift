import CLibMNL

/// One message received from the kernel: the `nlmsghdr` fields and the bytes after the header.
///
/// Netlink is in host byte order; so are these fields and the integers inside ``payload``.
public struct NetlinkMessage: Hashable, Sendable {
    public var type: UInt16
    public var flags: UInt16
    public var sequence: UInt32
    public var portID: UInt32
    /// Everything after the 16-byte header: the family header (`ifinfomsg`, `rtmsg`,
    /// `genlmsghdr`, …) and then the attributes.
    public var payload: [UInt8]

    public init(type: UInt16, flags: UInt16, sequence: UInt32, portID: UInt32, payload: [UInt8]) {
        self.type = type
        self.flags = flags
        self.sequence = sequence
        self.portID = portID
        self.payload = payload
    }

    /// Parses exactly one message from `bytes` (header included); trailing padding is allowed.
    /// - Throws: ``NetlinkError`` `.malformedMessage` when the length field disagrees with `bytes`.
    public init(bytes: [UInt8]) throws(NetlinkError) {
        let messages = try Self.split(bytes)
        guard messages.count == 1 else {
            throw NetlinkError(.malformedMessage, "expected one netlink message, found \(messages.count)")
        }
        self = messages[0]
    }

    /// Splits a buffer into messages, as `mnl_nlmsg_ok`/`mnl_nlmsg_next` walk it.
    /// - Throws: ``NetlinkError`` `.malformedMessage` when a length runs past the buffer.
    public static func split(_ bytes: [UInt8]) throws(NetlinkError) -> [NetlinkMessage] {
        try bytes.withBytes { (raw) throws(NetlinkError) in try split(raw) }
    }

    package static func split(_ raw: UnsafeRawBufferPointer) throws(NetlinkError) -> [NetlinkMessage] {
        var messages: [NetlinkMessage] = []
        var offset = 0
        while raw.count - offset >= headerLength {
            let length = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            guard length >= headerLength, length <= raw.count - offset else {
                throw NetlinkError(.malformedMessage,
                    "netlink message at offset \(offset) claims \(length) bytes, \(raw.count - offset) remain")
            }
            messages.append(NetlinkMessage(
                type: raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt16.self),
                flags: raw.loadUnaligned(fromByteOffset: offset + 6, as: UInt16.self),
                sequence: raw.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self),
                portID: raw.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self),
                payload: Array(raw[(offset + headerLength)..<(offset + length)])))
            offset += alignedLength(length)
        }
        return messages
    }

    /// The message's bytes again, header included, as the kernel sent them.
    public var bytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(Self.headerLength + payload.count)
        out.appendHostOrder(UInt32(Self.headerLength + payload.count))
        out.appendHostOrder(type)
        out.appendHostOrder(flags)
        out.appendHostOrder(sequence)
        out.appendHostOrder(portID)
        out += payload
        return out
    }

    /// Reads the fixed family header at the start of ``payload`` (`rtmsg`, `ifinfomsg`, …).
    /// - Throws: `.malformedMessage` when the payload is shorter than `Header`.
    package func familyHeader<Header: BitwiseCopyable>(_: Header.Type) throws(NetlinkError) -> Header {
        guard payload.count >= MemoryLayout<Header>.size else {
            throw NetlinkError(.malformedMessage,
                "message type \(type) has \(payload.count) payload bytes, its header needs \(MemoryLayout<Header>.size)")
        }
        return payload.withUnsafeBytes { $0.loadUnaligned(as: Header.self) }
    }

    /// The attributes after a family header of `headerSize` bytes (aligned to 4, as the kernel pads it).
    public func attributes(afterHeaderOfSize headerSize: Int) throws(NetlinkError) -> NetlinkAttributes {
        let start = min(alignedLength(headerSize), payload.count)
        return try NetlinkAttributes(parsing: payload[start...])
    }

    static let headerLength = MemoryLayout<nlmsghdr>.size
}

/// Netlink's 4-byte alignment (`NLMSG_ALIGN`, `NLA_ALIGN`, `MNL_ALIGN`).
func alignedLength(_ length: Int) -> Int { (length + 3) & ~3 }

extension Array where Element == UInt8 {
    /// `withUnsafeBytes` keeping the closure's typed error (the standard one rethrows `any Error`).
    func withBytes<R>(_ body: (UnsafeRawBufferPointer) throws(NetlinkError) -> R) throws(NetlinkError) -> R {
        try withUnsafeBytes { raw in Result { () throws(NetlinkError) in try body(raw) } }.get()
    }

    mutating func appendHostOrder<T: FixedWidthInteger>(_ value: T) {
        Swift.withUnsafeBytes(of: value) { append(contentsOf: $0) }
    }
}
