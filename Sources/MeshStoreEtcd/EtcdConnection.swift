import EtcdAPI
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import MeshCore
import SwiftProtobuf

/// One gRPC client for a set of etcd endpoints, its connection task, and the auth token.
///
/// The client keeps a connection to every endpoint and spreads requests over those that are
/// up (gRPC's round-robin policy, as etcd's own Go client does); a member that is gone is
/// skipped and reconnected with a short backoff. Requests carry
/// etcd's auth token in the `token` metadata when credentials are configured; a token that
/// expired (etcd's simple tokens live 5 minutes) or was issued by a member that restarted is
/// replaced once and the request retried.
final class EtcdConnection: Sendable {
    typealias Transport = HTTP2ClientTransport.Posix
    typealias Client = GRPCClient<Transport>

    let configuration: EtcdConfiguration
    let client: Client
    private let runner: Task<Void, Never>
    private let tokens: TokenCache

    init(_ configuration: EtcdConfiguration) throws(MeshError) {
        self.configuration = configuration
        let endpoints = configuration.endpointList
        guard !configuration.endpoints.isEmpty else {
            throw MeshError(.invalidArgument, "etcd: no endpoints given")
        }
        let transport: HTTP2ClientTransport.Posix
        do {
            transport = try HTTP2ClientTransport.Posix(
                target: try Self.target(configuration.endpoints),
                transportSecurity: try Self.security(configuration.tls),
                config: .defaults { config in
                    config.connection.keepalive = .init(time: configuration.keepAliveInterval,
                                                        timeout: configuration.keepAliveTimeout, allowWithoutCalls: true)
                    config.backoff = .init(initial: configuration.reconnectBackoff.initial,
                                           max: configuration.reconnectBackoff.max, multiplier: 1.6, jitter: 0.2)
                },
                // Not the default pick-first: grpc-swift's pick-first uses only the first
                // resolved endpoint of an address list, so with the first member down every
                // request timed out although the other two served (measured: 5 s timeouts
                // for as long as member 1 was dead). Round-robin connects to each member and
                // picks among the ready ones.
                serviceConfig: ServiceConfig(loadBalancingConfig: [.roundRobin]))
        } catch let error as MeshError {
            throw error
        } catch {
            throw MeshError(.invalidArgument, "etcd \(endpoints): cannot set up the gRPC transport: \(error)")
        }
        let client = Client(transport: transport)
        self.client = client
        runner = Task {
            // Ends when close() begins the graceful shutdown; a failure here means the
            // transport gave up for good, which every later request reports on its own.
            try? await client.runConnections()
        }
        tokens = TokenCache(credentials: configuration.credentials)
    }

    /// Stops the connections once the requests in flight have finished; watches end.
    func close() {
        client.beginGracefulShutdown()
    }

    deinit {
        client.beginGracefulShutdown()
        runner.cancel()
    }

    var options: CallOptions {
        var options = CallOptions.defaults
        options.timeout = configuration.requestTimeout
        // Wait for a connection (up to the timeout) rather than failing at once while the
        // client reconnects to another member.
        options.waitForReady = true
        return options
    }

    /// Runs one request with the auth metadata and translates a failure into a ``MeshError``
    /// naming `operation`. Retried inside the request timeout:
    /// - once with a fresh token when etcd says the token is invalid;
    /// - after a short pause when etcd is between leaders ("leader changed", "no leader") or
    ///   the connection broke: elections take about a second, and a request that failed
    ///   during one may be sent again. Every Meshguard write may: puts and deletes are
    ///   idempotent, a transaction that did commit fails its compare the second time (the
    ///   caller re-reads, as after any lost race), and a lease granted twice expires unused.
    func call<T: Sendable>(_ operation: String, _ body: (Metadata) async throws -> T) async throws -> T {
        let deadline = ContinuousClock.now + configuration.requestTimeout
        var pause = Duration.milliseconds(100)
        var refreshedToken = false
        while true {
            do {
                return try await body(try await tokens.metadata(client))
            } catch let error as RPCError where error.code == .unauthenticated && configuration.credentials != nil && !refreshedToken {
                await tokens.invalidate()
                refreshedToken = true
            } catch {
                let translated = translateEtcdError(error, while: operation, endpoints: configuration.endpointList)
                guard let mesh = translated as? MeshError, mesh.code == .unavailable,
                      ContinuousClock.now + pause < deadline, !Task.isCancelled else { throw translated }
                try await Task.sleep(for: pause)
                pause = min(pause * 2, .milliseconds(800))
            }
        }
    }

    /// The auth metadata for a long-lived stream (watch, keep-alive).
    func streamMetadata() async throws -> Metadata {
        do {
            return try await tokens.metadata(client)
        } catch {
            throw translateEtcdError(error, while: "authenticating", endpoints: configuration.endpointList)
        }
    }

    func invalidateToken() async { await tokens.invalidate() }

    // MARK: target and security

    /// IPv4 or IPv6 literals are used as given; host names are resolved once, here (IPv4).
    static func target(_ endpoints: [DatastoreEndpoint]) throws(MeshError) -> any ResolvableTarget {
        if endpoints.allSatisfy({ isAddress($0.host, family: AF_INET6) }) {
            return .ipv6(pairs: endpoints.map { ($0.host, $0.port) })
        }
        var pairs: [(host: String, port: Int)] = []
        for endpoint in endpoints {
            if isAddress(endpoint.host, family: AF_INET) {
                pairs.append((endpoint.host, endpoint.port))
            } else if isAddress(endpoint.host, family: AF_INET6) {
                throw MeshError(.invalidArgument,
                    "etcd endpoint \(endpoint): IPv6 addresses cannot be mixed with IPv4 addresses or names")
            } else {
                let addresses = resolveIPv4(endpoint.host)
                guard !addresses.isEmpty else {
                    throw MeshError(.unavailable, "etcd endpoint \(endpoint): the name \(endpoint.host) does not resolve to an IPv4 address")
                }
                pairs += addresses.map { ($0, endpoint.port) }
            }
        }
        return .ipv4(pairs: pairs)
    }

    private static func isAddress(_ text: String, family: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, text, &buffer) == 1
    }

    private static func resolveIPv4(_ host: String) -> [String] {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &result) == 0 else { return [] }
        defer { freeaddrinfo(result) }
        var addresses: [String] = []
        var cursor = result
        while let info = cursor {
            if let address = info.pointee.ai_addr, info.pointee.ai_family == AF_INET {
                var text = [CChar](repeating: 0, count: Int(INET_ADDRSTRLEN))
                address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { sin in
                    var addr = sin.pointee.sin_addr
                    _ = inet_ntop(AF_INET, &addr, &text, socklen_t(text.count))
                }
                let string = String(cString: text)
                if !addresses.contains(string) { addresses.append(string) }
            }
            cursor = info.pointee.ai_next
        }
        return addresses
    }

    static func security(_ tls: EtcdConfiguration.TLS?) throws(MeshError) -> HTTP2ClientTransport.Posix.TransportSecurity {
        guard let tls else { return .plaintext }
        for (what, path) in [("CA", tls.caFile), ("client certificate", tls.certificateFile), ("client key", tls.keyFile)] {
            if let path, !FileManager.default.isReadableFile(atPath: path) {
                throw MeshError(.invalidArgument, "etcd TLS: the \(what) file \(path) cannot be read")
            }
        }
        switch (tls.certificateFile, tls.keyFile) {
        case (nil, nil):
            return .tls { config in
                if let ca = tls.caFile { config.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
            }
        case (let certificate?, let key?):
            return .mTLS(certificateChain: [.file(path: certificate, format: .pem)], privateKey: .file(path: key, format: .pem)) { config in
                if let ca = tls.caFile { config.trustRoots = .certificates([.file(path: ca, format: .pem)]) }
            }
        default:
            throw MeshError(.invalidArgument, "etcd TLS: a client certificate needs its key and a key its certificate")
        }
    }
}

/// etcd's auth token for the configured user, fetched on first use and again after
/// ``invalidate()``. Without credentials, or when etcd has auth off, no metadata.
private actor TokenCache {
    let credentials: EtcdConfiguration.Credentials?
    private var token: String?

    init(credentials: EtcdConfiguration.Credentials?) {
        self.credentials = credentials
    }

    func metadata(_ client: EtcdConnection.Client) async throws -> Metadata {
        guard let credentials else { return [:] }
        if token == nil {
            let auth = Etcdserverpb_Auth.Client(wrapping: client)
            var options = CallOptions.defaults
            options.timeout = .seconds(5)
            options.waitForReady = true
            do {
                let response = try await auth.authenticate(.with {
                    $0.name = credentials.user
                    $0.password = credentials.password
                }, options: options)
                token = response.token
            } catch let error as RPCError where error.code == .failedPrecondition && error.message.contains("not enabled") {
                // Auth is off on this cluster: requests go without a token.
                token = ""
            } catch let error as RPCError where error.code == .invalidArgument || error.code == .permissionDenied {
                // etcd's "authentication failed, invalid user ID or password": no secret in it.
                throw MeshError(.permissionDenied, "etcd refused \(credentials): \(error.message)")
            }
        }
        guard let token, !token.isEmpty else { return [:] }
        var metadata = Metadata()
        metadata.addString(token, forKey: "token")
        return metadata
    }

    func invalidate() { token = nil }
}
