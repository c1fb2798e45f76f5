import ArgumentParser
import Foundation
import Logging
import MeshController
import MeshCore
import ServiceLifecycle
import UnixSignals

struct ControllerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "controller",
        abstract: "Run the controller: validate node claims and publish accepted peers (one active, others stand by)."
    )

    @OptionGroup var store: StoreOptions
    @OptionGroup var log: LogOptions

    @Option(name: .customLong("pod-cidr-pool"), help: "A pod CIDR pool of the cluster (repeat for several); every node's pod CIDRs must be inside one.")
    var pools: [String] = []
    @Option(help: "TTL in seconds of the leadership lease: a standby takes over within it.") var leaseTTL = 10
    @Option(help: "Name of this instance in the leader record (default: hostname:pid).") var identity: String?

    func validate() throws {
        guard !pools.isEmpty else { throw ValidationError("--pod-cidr-pool is required (e.g. --pod-cidr-pool 10.244.0.0/16)") }
        for pool in pools {
            do {
                let prefix = try IPPrefix(pool)
                if prefix.isDefaultRoute { throw ValidationError("--pod-cidr-pool \(pool) is the whole address space") }
            } catch let error as MeshError { throw ValidationError("--pod-cidr-pool: \(error.message)") }
        }
        guard (2...3600).contains(leaseTTL) else { throw ValidationError("--lease-ttl \(leaseTTL) must be 2-3600 seconds") }
    }

    func run() async throws {
        let logger = log.bootstrap(label: "meshguard.controller")
        let name = identity ?? "\(ProcessInfo.processInfo.hostName):\(getpid())"
        let controller = Controller(
            configuration: ControllerConfiguration(identity: name, pools: try pools.map { text throws(MeshError) in try IPPrefix(text) },
                                                   leaseTTL: Int64(leaseTTL)),
            store: try Adapters.store(store, create: true, logger: logger), wallClock: SystemWallClock(), logger: logger)
        let group = ServiceGroup(configuration: .init(services: [.init(service: controller)],
                                                     gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        try await group.run()
    }
}
