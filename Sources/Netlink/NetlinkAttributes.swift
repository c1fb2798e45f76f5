import CLibMNL

/// The attributes (`nlattr` TLVs) of a message or of a nested attribute, parsed in Swift.
///
/// Types are masked with `NLA_TYPE_MASK`: the kernel sets `NLA_F_NESTED` on nests it sends
/// (always for generic netlink, sometimes for rtnetlink), and comparing unmasked types would
/// silently miss those attributes. When a type occurs more than once the accessors return the
/// first occurrence; ``all`` keeps every one (generic netlink lists are repeated nests).
public struct NetlinkAttributes: Sendable {
    public struct Attribute: Sendable {
        /// The type with `NLA_F_NESTED` and `NLA_F_NET_BYTEORDER` masked off.
        public let type: UInt16
        /// Whether the sender set `NLA_F_NESTED`.
        public let isNested: Bool
        public let payload: ArraySlice<UInt8>
    }

    public let all: [Attribute]

    /// Parses a run of attributes. Trailing bytes too short for an attribute header are padding.
    /// - Throws: `.malformedMessage` when an attribute's length is below 4 or past the end.
    public init(parsing bytes: ArraySlice<UInt8>) throws(NetlinkError) {
        var attributes: [Attribute] = []
        var offset = bytes.startIndex
        while bytes.endIndex - offset >= 4 {
            let length = Int(UInt16(bytes[offset]) | UInt16(bytes[offset + 1]) << 8)
            let rawType = UInt16(bytes[offset + 2]) | UInt16(bytes[offset + 3]) << 8
            guard length >= 4, length <= bytes.endIndex - offset else {
                throw NetlinkError(.malformedMessage,
                    "attribute type \(rawType & Self.typeMask) claims \(length) bytes, \(bytes.endIndex - offset) remain")
            }
            attributes.append(Attribute(
                type: rawType & Self.typeMask,
                isNested: rawType & UInt16(NLA_F_NESTED) != 0,
                payload: bytes[(offset + 4)..<(offset + length)]))
            offset += min(alignedLength(length), bytes.endIndex - offset)
        }
        all = attributes
    }

    public init(parsing bytes: [UInt8]) throws(NetlinkError) {
        try self.init(parsing: bytes[...])
    }

    public subscript(type: UInt16) -> Attribute? { all.first { $0.type == type } }

    public func contains(_ type: UInt16) -> Bool { self[type] != nil }

    public func bytes(_ type: UInt16) -> [UInt8]? { self[type].map { Array($0.payload) } }

    public func u8(_ type: UInt16) throws(NetlinkError) -> UInt8? { try integer(type) }
    public func u16(_ type: UInt16) throws(NetlinkError) -> UInt16? { try integer(type) }
    public func u32(_ type: UInt16) throws(NetlinkError) -> UInt32? { try integer(type) }
    public func u64(_ type: UInt16) throws(NetlinkError) -> UInt64? { try integer(type) }

    /// A string attribute without its terminating NUL (the kernel sends `NLA_STRING`s with one).
    public func string(_ type: UInt16) -> String? {
        guard let payload = self[type]?.payload else { return nil }
        let text = payload.prefix { $0 != 0 }
        return String(decoding: text, as: UTF8.self)
    }

    /// The attributes inside a nest such as `IFLA_LINKINFO` (whether or not `NLA_F_NESTED` is set).
    public func nested(_ type: UInt16) throws(NetlinkError) -> NetlinkAttributes? {
        guard let payload = self[type]?.payload else { return nil }
        return try NetlinkAttributes(parsing: payload)
    }

    /// A host-order integer attribute; its payload must be exactly `T`'s size.
    private func integer<T: FixedWidthInteger>(_ type: UInt16) throws(NetlinkError) -> T? {
        guard let payload = self[type]?.payload else { return nil }
        guard payload.count == MemoryLayout<T>.size else {
            throw NetlinkError(.malformedMessage,
                "attribute type \(type) has \(payload.count) bytes, expected \(MemoryLayout<T>.size)")
        }
        return payload.withUnsafeBytes { $0.loadUnaligned(as: T.self) }
    }

    /// `NLA_TYPE_MASK`, a macro over two flags that does not import into Swift.
    static let typeMask = ~UInt16(NLA_F_NESTED | NLA_F_NET_BYTEORDER)
}
