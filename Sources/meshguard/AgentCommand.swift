import ArgumentParser
import Foundation
import Logging
import MeshAgent
import MeshCore
import MeshHTTP
import Metrics
import Prometheus
import ServiceLifecycle
import UnixSignals

struct AgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agent",
        abstract: "Run the node agent: publish this node's key, program WireGuard, routes and rule."
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var log: LogOptions

    @Option(help: "This node's name (as in Kubernetes).") var node: String
    @Option(help: "This node's underlay address, where peers send its encrypted traffic.") var address: String
    @Option(name: .customLong("pod-cidr"), help: "A pod CIDR of this node (repeat for several).") var podCIDRs: [String] = []
    @Option(help: "Directory holding the private key file wireguard.key (mode 0600).") var stateDir = "/var/lib/meshguard"
    @Option(help: "WireGuard interface name (at most 15 characters).") var interface = NodeSettings.defaultInterface
    @Option(help: "WireGuard UDP listen port.") var listenPort = Int(NodeSettings.defaultListenPort)
    @Option(help: "Firewall mark of encrypted packets; the rule 'not fwmark M/M' steers the rest (hex or decimal).")
    var fwmark = "0x" + String(NodeSettings.defaultFwmark, radix: 16)
    @Option(help: "Routing table for pod routes through the tunnel.") var table = Int(NodeSettings.defaultTable)
    @Option(help: "Priority of the policy rule.") var rulePriority = Int(NodeSettings.defaultRulePriority)
    @Option(help: "Device MTU (default: the cluster setting, else underlay MTU − 60).") var mtu: Int?
    @Option(help: "Address on the device, inside this node's pod CIDRs (default: the first host address; 'none' for none).")
    var tunnelAddress: String?
    @Option(help: "WireGuard backend: auto (an existing wireguard-go socket, else the kernel's WireGuard, else wireguard-go), kernel, or userspace (wireguard-go).")
    var wireguardBackend = "auto"
    @Option(help: "TTL in seconds of the lease holding this node's claim and status.") var leaseTTL = 15
    @Option(help: "How often the data plane is read back and corrected.") var resyncInterval = "10s"
    @Option(help: "How often status is written to the store.") var statusInterval = "10s"
    @Option(help: "The least time between two status writes made because something changed.") var statusMinInterval = "1s"
    @Option(help: "The most peers the status lists one by one; above it, sums only (per-peer figures stay in /metrics).")
    var statusPeerLimit = 128
    @Option(help: "Status writes a second the whole cluster may make: in an N-node mesh each agent writes at most every N/this seconds.")
    var clusterStatusRate = 200
    @Option(help: "Address for /healthz, /readyz and /metrics.") var httpHost = "0.0.0.0"
    @Option(help: "Port for /healthz, /readyz and /metrics (0: no HTTP server).") var httpPort = 9473

    func settings() throws -> NodeSettings {
        let name = try NodeName(node)
        let underlay = try IPAddress(address)
        let cidrs = try podCIDRs.map { text throws(MeshError) in try IPPrefix(text) }
        guard let mark = parseMark(fwmark) else { throw MeshError(.invalidArgument, "--fwmark '\(fwmark)' is not a 32-bit number") }
        guard (1...65535).contains(listenPort) else { throw MeshError(.invalidArgument, "--listen-port \(listenPort) is not 1-65535") }
        guard (1...Int(UInt32.max)).contains(table) else { throw MeshError(.invalidArgument, "--table \(table) is out of range") }
        guard (0...Int(UInt32.max)).contains(rulePriority) else { throw MeshError(.invalidArgument, "--rule-priority \(rulePriority) is out of range") }
        let tunnel: IPAddress? = switch tunnelAddress {
        case nil: NodeSettings.defaultTunnelAddress(for: cidrs)
        case "none": nil
        case let text?: try IPAddress(text)
        }
        let settings = NodeSettings(node: name, interface: interface, listenPort: UInt16(listenPort), fwmark: mark,
                                    table: UInt32(table), rulePriority: UInt32(rulePriority), address: underlay,
                                    podCIDRs: cidrs, tunnelAddress: tunnel, mtu: mtu)
        try settings.validate()
        return settings
    }

    func validate() throws {
        do { _ = try settings() } catch let error as MeshError { throw error.validation }
        guard WireGuardBackendChoice(rawValue: wireguardBackend) != nil else {
            throw ValidationError("--wireguard-backend '\(wireguardBackend)' is not one of auto, kernel, userspace")
        }
        guard (2...3600).contains(leaseTTL) else { throw ValidationError("--lease-ttl \(leaseTTL) must be 2-3600 seconds") }
        _ = try parseDuration(resyncInterval, option: "--resync-interval")
        _ = try parseDuration(statusInterval, option: "--status-interval")
        _ = try parseDuration(statusMinInterval, option: "--status-min-interval")
        guard clusterStatusRate >= 1 else { throw ValidationError("--cluster-status-rate \(clusterStatusRate) must be 1 or more") }
        guard statusPeerLimit >= 0 else { throw ValidationError("--status-peer-limit \(statusPeerLimit) must be 0 or more") }
        guard (0...65535).contains(httpPort) else { throw ValidationError("--http-port \(httpPort) is not 0-65535") }
    }

    func run() async throws {
        let logger = log.bootstrap(label: "meshguard.agent")
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))

        let settings = try settings()
        let keys = try Adapters.loadOrCreateKeys(stateDirectory: stateDir)
        let agent = Agent(
            configuration: AgentConfiguration(settings: settings, leaseTTL: Int64(leaseTTL),
                                              resyncInterval: try parseDuration(resyncInterval, option: "--resync-interval"),
                                              statusInterval: try parseDuration(statusInterval, option: "--status-interval"),
                                              statusMinInterval: try parseDuration(statusMinInterval, option: "--status-min-interval"),
                                              statusPeerLimit: statusPeerLimit, clusterStatusWritesPerSecond: clusterStatusRate,
                                              agentVersion: "meshguard \(Meshguard.version)"),
            keys: keys, store: try Adapters.store(store, create: false, logger: logger),
            devices: try Adapters.devices(backend: WireGuardBackendChoice(rawValue: wireguardBackend) ?? .auto,
                                          interface: settings.interface, logger: logger),
            routing: try Adapters.routing(),
            wallClock: SystemWallClock(), logger: logger)

        var services: [any Service] = [agent]
        if httpPort != 0 {
            let health = agent.health
            services.append(HealthServer.make(host: httpHost, port: httpPort, registry: registry, readiness: {
                let s = health.snapshot
                return Readiness(ready: s.ready, reason: s.reason)
            }, logger: logger))
        }
        let group = ServiceGroup(configuration: .init(services: services.map { .init(service: $0) },
                                                     gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}

func parseMark(_ text: String) -> UInt32? {
    text.hasPrefix("0x") ? UInt32(text.dropFirst(2), radix: 16) : UInt32(text)
}
