import MeshCore

/// How to reach an etcd v3 cluster.
public struct EtcdConfiguration: Sendable {
    /// The members to talk to. The client connects to the first that answers and moves to the
    /// next when that connection fails; any member serves every request (followers forward
    /// writes to the leader).
    public var endpoints: [DatastoreEndpoint]
    /// TLS towards etcd; nil for plain gRPC.
    public var tls: TLS?
    /// etcd's user and password authentication; nil when etcd has auth off.
    public var credentials: Credentials?
    /// How long one request may take, waiting for a connection included. A request that runs
    /// out of time is `.unavailable`: the caller retries.
    public var requestTimeout: Duration = .seconds(5)
    /// HTTP/2 pings on an idle connection, so that a member that vanished without closing the
    /// connection (a partition, a frozen VM) is noticed and the next endpoint tried.
    public var keepAliveInterval: Duration = .seconds(5)
    public var keepAliveTimeout: Duration = .seconds(3)
    /// Reconnection backoff. Kept short on purpose: after an outage every agent should be back
    /// within seconds of etcd, not after an exponential wait grown during the outage.
    public var reconnectBackoff: (initial: Duration, max: Duration) = (.milliseconds(100), .seconds(1))
    /// How long a watch tries to resume on another connection before it ends with
    /// `.unavailable` (and the caller re-lists).
    public var watchResumeWindow: Duration = .seconds(3)

    public struct TLS: Sendable, Hashable {
        /// PEM file of the CA that signed etcd's server certificates; nil: the system's roots.
        public var caFile: String?
        /// PEM files of the client certificate and its key, for etcd's `--client-cert-auth`.
        public var certificateFile: String?
        public var keyFile: String?

        public init(caFile: String? = nil, certificateFile: String? = nil, keyFile: String? = nil) {
            self.caFile = caFile
            self.certificateFile = certificateFile
            self.keyFile = keyFile
        }
    }

    /// A user and password. The password never appears in a description, log line or error.
    public struct Credentials: Sendable, Hashable, CustomStringConvertible {
        public var user: String
        public var password: String

        public init(user: String, password: String) {
            self.user = user
            self.password = password
        }

        public var description: String { "user \(user) (password redacted)" }
    }

    public init(endpoints: [DatastoreEndpoint], tls: TLS? = nil, credentials: Credentials? = nil) {
        self.endpoints = endpoints
        self.tls = tls
        self.credentials = credentials
    }

    /// The endpoints as `etcd://` lists them, for messages.
    var endpointList: String { endpoints.map(\.description).joined(separator: ",") }
}
