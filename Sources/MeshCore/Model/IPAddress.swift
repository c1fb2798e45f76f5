/// An IPv4 or IPv6 address.
public enum IPAddress: Hashable, Comparable, Sendable, CustomStringConvertible {
    case v4(UInt32)
    case v6(UInt128)

    public enum Family: Sendable, Hashable { case inet, inet6 }

    public var family: Family {
        switch self {
        case .v4: .inet
        case .v6: .inet6
        }
    }

    public var bitWidth: Int { family == .inet ? 32 : 128 }

    /// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (no zone, no brackets).
    public init(_ text: some StringProtocol) throws(MeshError) {
        // Scanned as bytes: agents parse every peer's addresses on every pass.
        if let v4 = Self.parseV4(text.utf8) {
            self = .v4(v4)
        } else if text.utf8.contains(UInt8(ascii: ":")), let v6 = Self.parseV6(String(text)) {
            self = .v6(v6)
        } else {
            let s = String(text)
            let shown = s.count > 60 ? String(s.prefix(60)) + "…" : s
            throw MeshError(.invalidAddress, "'\(shown)' is not an IPv4 or IPv6 address")
        }
    }

    /// The address as 4 or 16 bytes in network order.
    public var bytes: [UInt8] {
        switch self {
        case .v4(let v): return (0..<4).map { UInt8(truncatingIfNeeded: v >> (24 - 8 * $0)) }
        case .v6(let v): return (0..<16).map { UInt8(truncatingIfNeeded: v >> (120 - 8 * $0)) }
        }
    }

    /// Builds an address from 4 or 16 network-order bytes.
    public init?(bytes: some Collection<UInt8>) {
        let b = Array(bytes)
        switch b.count {
        case 4: self = .v4(b.reduce(0) { $0 << 8 | UInt32($1) })
        case 16: self = .v6(b.reduce(0) { $0 << 8 | UInt128($1) })
        default: return nil
        }
    }

    public var isUnspecified: Bool {
        switch self {
        case .v4(let v): v == 0
        case .v6(let v): v == 0
        }
    }

    public var isLoopback: Bool {
        switch self {
        case .v4(let v): v >> 24 == 127
        case .v6(let v): v == 1
        }
    }

    public var isMulticast: Bool {
        switch self {
        case .v4(let v): v >> 28 == 0xE
        case .v6(let v): v >> 120 == 0xFF
        }
    }

    public var isLimitedBroadcast: Bool {
        if case .v4(let v) = self { return v == 0xFFFF_FFFF }
        return false
    }

    public var description: String {
        switch self {
        case .v4(let v):
            return "\(v >> 24).\(v >> 16 & 0xff).\(v >> 8 & 0xff).\(v & 0xff)"
        case .v6(let v):
            return Self.formatV6(v)
        }
    }

    public static func < (a: IPAddress, b: IPAddress) -> Bool {
        switch (a, b) {
        case (.v4(let x), .v4(let y)): x < y
        case (.v6(let x), .v6(let y)): x < y
        case (.v4, .v6): true
        case (.v6, .v4): false
        }
    }

    // MARK: parsing

    /// Four decimal parts 0-255 separated by dots; no signs, no spaces, no leading zeros (they
    /// read as octal in some tools), at most 3 digits each.
    static func parseV4<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> UInt32? {
        var value: UInt32 = 0, part: UInt32 = 0, digits = 0, dots = 0
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0, dots < 3 else { return nil }
                value = value << 8 | part
                (part, digits, dots) = (0, 0, dots + 1)
                continue
            }
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), !(digits == 1 && part == 0) else { return nil }
            part = part * 10 + UInt32(byte - UInt8(ascii: "0"))
            digits += 1
            guard digits <= 3, part <= 255 else { return nil }
        }
        guard digits > 0, dots == 3 else { return nil }
        return value << 8 | part
    }

    private static func parseV6(_ s: String) -> UInt128? {
        guard s.contains(":"), s.count <= 45 else { return nil }
        let halves = s.components(separatedByDoubleColon: ())
        guard halves.count <= 2 else { return nil }
        func groups(_ part: Substring) -> [UInt16]? {
            if part.isEmpty { return [] }
            var out: [UInt16] = []
            let pieces = part.split(separator: ":", omittingEmptySubsequences: false)
            for (i, piece) in pieces.enumerated() {
                if i == pieces.count - 1, piece.contains(".") {
                    guard let v4 = parseV4(piece.utf8) else { return nil }
                    out += [UInt16(v4 >> 16), UInt16(v4 & 0xffff)]
                    continue
                }
                guard (1...4).contains(piece.count), let g = UInt16(piece, radix: 16) else { return nil }
                out.append(g)
            }
            return out
        }
        guard let head = groups(halves[0]) else { return nil }
        var all: [UInt16]
        if halves.count == 2 {
            guard let tail = groups(halves[1]), head.count + tail.count <= 7 else { return nil }
            all = head + Array(repeating: 0, count: 8 - head.count - tail.count) + tail
        } else {
            guard head.count == 8 else { return nil }
            all = head
        }
        return all.reduce(UInt128(0)) { $0 << 16 | UInt128($1) }
    }

    private static func formatV6(_ v: UInt128) -> String {
        let groups = (0..<8).map { UInt16(truncatingIfNeeded: v >> (112 - 16 * $0)) }
        // RFC 5952: compress the longest run (≥ 2) of zero groups, the first one on ties.
        var bestStart = -1, bestLen = 0, i = 0
        while i < 8 {
            if groups[i] == 0 {
                var j = i
                while j < 8 && groups[j] == 0 { j += 1 }
                if j - i > bestLen && j - i >= 2 { bestStart = i; bestLen = j - i }
                i = j
            } else { i += 1 }
        }
        func hex(_ g: UInt16) -> String { String(g, radix: 16) }
        if bestStart < 0 { return groups.map(hex).joined(separator: ":") }
        let head = groups[..<bestStart].map(hex).joined(separator: ":")
        let tail = groups[(bestStart + bestLen)...].map(hex).joined(separator: ":")
        return head + "::" + tail
    }
}

extension String {
    /// Splits at "::" (the IPv6 zero-run marker); a plain split on ":" cannot tell it apart.
    fileprivate func components(separatedByDoubleColon: ()) -> [Substring] {
        var result: [Substring] = []
        var start = startIndex
        var i = startIndex
        while i < endIndex {
            let next = index(after: i)
            if self[i] == ":" && next < endIndex && self[next] == ":" {
                result.append(self[start..<i])
                start = index(after: next)
                i = start
                continue
            }
            i = next
        }
        result.append(self[start...])
        return result
    }
}
