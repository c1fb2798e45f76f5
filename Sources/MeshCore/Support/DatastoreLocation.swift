/// Where the datastore is, parsed from `--datastore` / `MESHGUARD_DATASTORE`.
public enum DatastoreLocation: Hashable, Sendable, CustomStringConvertible {
    /// `sqlite:///absolute/path/to/file.db`: the embedded store, shared by processes on one host.
    case sqlite(path: String)

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
        let scheme = text.split(separator: ":", maxSplits: 1).first.map(String.init) ?? text
        throw MeshError(.invalidArgument,
            "--datastore '\(text)': unknown scheme '\(scheme)'; supported: sqlite:///path")
    }

    public var description: String {
        switch self {
        case .sqlite(let path): "sqlite://\(path)"
        }
    }
}
