/// A UDP endpoint: `192.0.2.1:51820` or `[2001:db8::1]:51820`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public init(_ input: some StringProtocol) throws(MeshError) {
        let text = String(input)  // free for a String; gives a bidirectional UTF-8 view
        func shown() -> String { text.count > 60 ? String(text.prefix(60)) + "…" : text }
        let utf8 = text.utf8
        let host: Substring
        let portStart: String.Index
        if utf8.first == UInt8(ascii: "[") {
            guard let close = utf8.firstIndex(of: UInt8(ascii: "]")), utf8.index(after: close) < utf8.endIndex,
                  utf8[utf8.index(after: close)] == UInt8(ascii: ":") else {
                throw MeshError(.invalidAddress, "'\(shown())' is not an endpoint ([ipv6]:port)")
            }
            host = Substring(text[utf8.index(after: utf8.startIndex)..<close])
            portStart = utf8.index(close, offsetBy: 2)
        } else {
            guard let colon = utf8.lastIndex(of: UInt8(ascii: ":")), utf8.firstIndex(of: UInt8(ascii: ":")) == colon else {
                throw MeshError(.invalidAddress, "'\(shown())' is not an endpoint (ip:port)")
            }
            host = Substring(text[..<colon])
            portStart = utf8.index(after: colon)
        }
        var port = 0, digits = 0
        for byte in utf8[portStart...] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9"), digits < 5 else { digits = 0; break }
            port = port * 10 + Int(byte - UInt8(ascii: "0"))
            digits += 1
        }
        guard digits > 0, (1...65535).contains(port) else {
            throw MeshError(.invalidAddress, "'\(shown())' has no valid port (1-65535)")
        }
        self.address = try IPAddress(host)
        self.port = UInt16(port)
    }

    public var description: String {
        switch address {
        case .v4: "\(address):\(port)"
        case .v6: "[\(address)]:\(port)"
        }
    }
}
