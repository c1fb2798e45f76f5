/// A UDP endpoint: `192.0.2.1:51820` or `[2001:db8::1]:51820`.
public struct Endpoint: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let port: UInt16

    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }

    public init(_ text: some StringProtocol) throws(MeshError) {
        let s = String(text)
        let shown = s.count > 60 ? String(s.prefix(60)) + "…" : s
        let host: Substring
        let portText: Substring
        if s.hasPrefix("[") {
            guard let close = s.firstIndex(of: "]"), s.index(after: close) < s.endIndex,
                  s[s.index(after: close)] == ":" else {
                throw MeshError(.invalidAddress, "'\(shown)' is not an endpoint ([ipv6]:port)")
            }
            host = s[s.index(after: s.startIndex)..<close]
            portText = s[s.index(close, offsetBy: 2)...]
        } else {
            guard let colon = s.lastIndex(of: ":"), s.firstIndex(of: ":") == colon else {
                throw MeshError(.invalidAddress, "'\(shown)' is not an endpoint (ip:port)")
            }
            host = s[..<colon]
            portText = s[s.index(after: colon)...]
        }
        guard portText.count <= 5, portText.allSatisfy({ $0.isASCII && $0.isNumber }),
              let port = UInt16(portText), port != 0 else {
            throw MeshError(.invalidAddress, "'\(shown)' has no valid port (1-65535)")
        }
        self.address = try IPAddress(host)
        self.port = port
    }

    public var description: String {
        switch address {
        case .v4: "\(address):\(port)"
        case .v6: "[\(address)]:\(port)"
        }
    }
}
