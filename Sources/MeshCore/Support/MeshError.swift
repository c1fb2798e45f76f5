/// An error from Meshguard's own logic: bad input, a violated precondition of the mesh, or a
/// backend failure translated at an adapter's boundary.
///
/// Errors are a struct with an extensible ``Code`` (the swift-service-lifecycle and
/// swift-subprocess shape), a human message that names what was wrong, and an optional
/// underlying errno. Messages never contain private key material.
public struct MeshError: Error, Hashable, Sendable, CustomStringConvertible {
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Storage: Hashable, Sendable {
            case invalidArgument, invalidKey, invalidAddress, invalidPrefix, invalidRecord
            case notFound, alreadyExists, conflict, compacted, leaseNotFound, unavailable
            case permissionDenied, unsupported, backendFailure, timeout, cancelled, internalError
        }
        private let storage: Storage
        private init(_ storage: Storage) { self.storage = storage }

        /// Input that is malformed or out of range (a flag, a config value, a claim field).
        public static let invalidArgument = Code(.invalidArgument)
        /// A WireGuard key that is not 32 bytes of base64/hex, or is all zeros.
        public static let invalidKey = Code(.invalidKey)
        public static let invalidAddress = Code(.invalidAddress)
        public static let invalidPrefix = Code(.invalidPrefix)
        /// A datastore record that does not decode, or decodes to something inconsistent.
        public static let invalidRecord = Code(.invalidRecord)
        public static let notFound = Code(.notFound)
        public static let alreadyExists = Code(.alreadyExists)
        /// A compare-and-swap lost: the record changed underneath.
        public static let conflict = Code(.conflict)
        /// A watch asked for history the datastore no longer has; re-list.
        public static let compacted = Code(.compacted)
        public static let leaseNotFound = Code(.leaseNotFound)
        /// The datastore, device or process cannot be reached right now; retry later.
        public static let unavailable = Code(.unavailable)
        public static let permissionDenied = Code(.permissionDenied)
        /// The system lacks a needed feature (no WireGuard in the kernel, no wireguard-go).
        public static let unsupported = Code(.unsupported)
        /// A backend (kernel, wireguard-go, SQLite) rejected an operation.
        public static let backendFailure = Code(.backendFailure)
        public static let timeout = Code(.timeout)
        public static let cancelled = Code(.cancelled)
        public static let internalError = Code(.internalError)

        public var description: String { "\(storage)" }
    }

    public let code: Code
    public let message: String
    /// The errno (positive) behind this error, when a system call or a backend gave one.
    public let errno: Int32?

    public init(_ code: Code, _ message: String, errno: Int32? = nil) {
        self.code = code
        self.message = message
        self.errno = errno
    }

    public var description: String {
        if let errno { return "\(message) (errno \(errno))" }
        return message
    }
}
