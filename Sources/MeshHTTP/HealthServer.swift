import Hummingbird
import HTTPTypes
import Logging
import NIOCore
public import Prometheus
public import ServiceLifecycle

/// What `/readyz` reports: ready or not, and why.
public struct Readiness: Sendable {
    public var ready: Bool
    public var reason: String
    public init(ready: Bool, reason: String) {
        self.ready = ready
        self.reason = reason
    }
}

/// The agent's HTTP endpoints, served by Hummingbird:
/// - `GET /healthz`: 200 while the process runs (liveness);
/// - `GET /readyz`: 200 when in sync with the datastore, 503 with the reason otherwise;
/// - `GET /metrics`: Prometheus text format from `registry`.
public enum HealthServer {
    public static func make(host: String, port: Int, registry: PrometheusCollectorRegistry,
                            readiness: @escaping @Sendable () -> Readiness, logger: Logger) -> some Service {
        let router = Router()
        router.get("/healthz") { _, _ in "ok\n" }
        router.get("/readyz") { _, _ -> Response in
            let state = readiness()
            return Response(status: state.ready ? .ok : .serviceUnavailable,
                            headers: [.contentType: "text/plain; charset=utf-8"],
                            body: ResponseBody(byteBuffer: ByteBuffer(string: state.reason + "\n")))
        }
        router.get("/metrics") { _, _ -> Response in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                     body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
        }
        return Application(router: router, configuration: ApplicationConfiguration(address: .hostname(host, port: port), serverName: "meshguard"),
                           logger: logger)
    }
}
