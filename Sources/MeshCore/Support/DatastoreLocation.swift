/// Where the datastore is, parsed from `--datastore` / `MESHGUARD_DATASTORE`.
public enum DatastoreLocation: Hashable, Sendable, CustomStringConvertible {
    /// `sqlite:///absolute/path/to/file.db`: the embedded store, shared by processes on one host.
    case sqlite(path: String)
    /// `etcd://host1:2379,host2:2379`: an etcd v3 cluster, reached over gRPC at any of these
    /// endpoints (in order; the client fails over to the next one).
    case etcd(endpoints: [DatastoreEndpoint])

    public static let defaultValue = "sqlite:///var/lib/meshguard/meshguard.db"

    public init(_ text: String) throws(MeshError) {
        if text.hasPrefix("sqlite://") {
            let path = String(text.dropFirst("sqlite://".count))
            guard path.hasPrefix("/"), path.count > 1, !path.hasSuffix("/") else {
                throw MeshError(.invalidArgument,
                    "--datastore '\(text)': a SQLite datastore is sqlite:///absolute/path/to/file.db (three slashes)")
            }
            self = .sqlite(path: path)
            return
        }
        if text.hasPrefix("etcd://") {
            let list = text.dropFirst("etcd://".count)
            guard !list.isEmpty else {
                throw MeshError(.invalidArgument, "--datastore '\(text)': name at least one endpoint, as etcd://host:2379[,host:2379…]")
            }
            var endpoints: [DatastoreEndpoint] = []
            for item in list.split(separator: ",", omittingEmptySubsequences: false) {
                do {
                    endpoints.append(try DatastoreEndpoint(String(item), defaultPort: 2379))
                } catch {
                    throw MeshError(.invalidArgument, "--datastore '\(text)': \(error.message)")
                }
            }
            guard Set(endpoints).count == endpoints.count else {
                throw MeshError(.invalidArgument, "--datastore '\(text)': an endpoint is named twice")
            }
            self = .etcd(endpoints: endpoints)
            return
        }
        let scheme = text.split(separator: ":", maxSplits: 1).first.map(String.init) ?? text
        throw MeshError(.invalidArgument,
            "--datastore '\(text)': unknown scheme '\(scheme)'; supported: sqlite:///path, etcd://host:port[,host:port…]")
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        case .etcd(let endpoints): "etcd://" + endpoints.map(\.description).joined(separator: ",")
        }
    }
}

/// A host and port of a networked datastore: `host:port`, `host` (the default port),
/// `[v6-address]:port`. The host is a name or an address; nothing is resolved here.
public struct DatastoreEndpoint: Hashable, Sendable, CustomStringConvertible {
    public var host: String
    public var port: Int

    public init(host: String, port: Int) {
        self.host = host
        self.port = port
    }

    public init(_ text: String, defaultPort: Int) throws(MeshError) {
        var host = Substring(text)
        var port = defaultPort
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else {
                throw MeshError(.invalidArgument, "endpoint '\(text)' opens '[' without closing it")
            }
            let rest = host[host.index(after: close)...]
            host = host[host.index(after: host.startIndex)..<close]
            if !rest.isEmpty {
                guard rest.hasPrefix(":") else { throw MeshError(.invalidArgument, "endpoint '\(text)' has text after ']' that is no :port") }
                port = try Self.port(rest.dropFirst(), in: text)
            }
        } else if let colon = host.lastIndex(of: ":") {
            guard host.firstIndex(of: ":") == colon else {
                throw MeshError(.invalidArgument, "endpoint '\(text)': write an IPv6 address in brackets, as [::1]:2379")
            }
            port = try Self.port(host[host.index(after: colon)...], in: text)
            host = host[..<colon]
        }
        guard !host.isEmpty else { throw MeshError(.invalidArgument, "endpoint '\(text)' has no host") }
        guard host.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "@") }) else {
            throw MeshError(.invalidArgument, "endpoint '\(text)': the host holds characters a host name or address cannot")
        }
        self.host = String(host)
        self.port = port
    }

    private static func port(_ text: Substring, in endpoint: String) throws(MeshError) -> Int {
        guard let port = Int(text), (1...65535).contains(port) else {
            throw MeshError(.invalidArgument, "endpoint '\(endpoint)': port '\(text)' is not 1-65535")
        }
        return port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}
