/// A node's name, as Kubernetes spells node names: a DNS-1123 subdomain (lowercase letters,
/// digits, '-' and '.', at most 253 characters, starting and ending with an alphanumeric).
/// The name is part of datastore keys, so it must never contain '/'.
public struct NodeName: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let rawValue: String

    public init(_ text: String) throws(MeshError) {
        let shown = text.count > 60 ? String(text.prefix(60)) + "…" : text
        guard !text.isEmpty, text.utf8.count <= 253 else {
            throw MeshError(.invalidArgument, "node name '\(shown)' must be 1 to 253 characters")
        }
        let ok = text.utf8.allSatisfy { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
                || c == UInt8(ascii: "-") || c == UInt8(ascii: ".")
        }
        let alnum: (UInt8) -> Bool = { c in
            (c >= UInt8(ascii: "a") && c <= UInt8(ascii: "z")) || (c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9"))
        }
        guard ok, alnum(text.utf8.first!), alnum(text.utf8.last!) else {
            throw MeshError(.invalidArgument,
                "node name '\(shown)' must be lowercase letters, digits, '-' and '.', starting and ending with a letter or digit")
        }
        rawValue = text
    }

    public var description: String { rawValue }
    public static func < (a: NodeName, b: NodeName) -> Bool { a.rawValue < b.rawValue }
}
