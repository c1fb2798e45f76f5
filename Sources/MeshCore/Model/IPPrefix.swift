/// A network prefix (CIDR) such as `10.244.1.0/24`. Host bits must be zero: `10.244.1.5/24` is
/// rejected when parsed, because a claim that means "this network" must say so exactly.
public struct IPPrefix: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let length: Int

    public init(address: IPAddress, length: Int) throws(MeshError) {
        guard (0...address.bitWidth).contains(length) else {
            throw MeshError(.invalidPrefix, "prefix length /\(length) is out of range for \(address)")
        }
        guard Self.masked(address, length) == address else {
            throw MeshError(.invalidPrefix,
                "\(address)/\(length) has host bits set; the network is \(Self.masked(address, length))/\(length)")
        }
        self.address = address
        self.length = length
    }

    /// A host prefix (/32 or /128) for one address.
    public init(host: IPAddress) {
        address = host
        length = host.bitWidth
    }

    /// Parses `address/length`. A bare address is an error: prefixes must state their length.
    public init(_ text: some StringProtocol) throws(MeshError) {
        func shown() -> String {
            let s = String(text)
            return s.count > 60 ? String(s.prefix(60)) + "…" : s
        }
        let utf8 = text.utf8
        guard let slash = utf8.firstIndex(of: UInt8(ascii: "/")) else {
            throw MeshError(.invalidPrefix, "'\(shown())' is not a CIDR (address/length)")
        }
        let address: IPAddress
        do { address = try IPAddress(text[..<slash]) } catch {
            throw MeshError(.invalidPrefix, "'\(shown())' is not a CIDR: \(error.message)")
        }
        var length = 0, digits = 0
        for byte in utf8[utf8.index(after: slash)...] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 3 else { digits = 0; break }
            length = length * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
        }
        guard digits > 0 else { throw MeshError(.invalidPrefix, "'\(shown())' has no valid prefix length") }
        try self.init(address: address, length: length)
    }

    public var family: IPAddress.Family { address.family }
    public var isDefaultRoute: Bool { length == 0 }

    public func contains(_ other: IPAddress) -> Bool {
        other.family == family && Self.masked(other, length) == address
    }

    /// True when every address of `other` is inside `self`.
    public func contains(_ other: IPPrefix) -> Bool {
        other.family == family && other.length >= length && Self.masked(other.address, length) == address
    }

    public func overlaps(_ other: IPPrefix) -> Bool { contains(other) || other.contains(self) }

    /// The `n`th address inside the prefix (0 is the network address itself).
    public func address(at n: Int) -> IPAddress? {
        switch address {
        case .v4(let base):
            let size = length == 0 ? UInt64(1) << 32 : UInt64(1) << UInt64(32 - length)
            guard n >= 0, UInt64(n) < size else { return nil }
            return .v4(base &+ UInt32(n))
        case .v6(let base):
            guard n >= 0, length == 0 || 128 - length >= 64 || UInt128(n) < (UInt128(1) << UInt128(128 - length)) else {
                return nil
            }
            return .v6(base &+ UInt128(n))
        }
    }

    public var description: String { "\(address)/\(length)" }

    public static func < (a: IPPrefix, b: IPPrefix) -> Bool {
        a.address != b.address ? a.address < b.address : a.length < b.length
    }

    static func masked(_ address: IPAddress, _ length: Int) -> IPAddress {
        switch address {
        case .v4(let v):
            let mask: UInt32 = length == 0 ? 0 : ~UInt32(0) << UInt32(32 - length)
            return .v4(v & mask)
        case .v6(let v):
            let mask: UInt128 = length == 0 ? 0 : ~UInt128(0) << UInt128(128 - length)
            return .v6(v & mask)
        }
    }
}
