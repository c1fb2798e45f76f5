import Logging
import MeshAgent
import MeshCodec
import MeshController
import MeshCore
import MeshTestKit
import ServiceLifecycle
import Testing

/// Waits until `condition` holds, checking every 20 ms, for at most `timeout`.
///
/// The default is generous on purpose: these steps take milliseconds alone, but `.ci/run`
/// starts every suite at once on two cores (etcd members, labs, wireguard-go), and a CI run
/// saw four agent tests starved past 10 s together while other suites started. A deadline
/// only costs time when a test fails.
func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("timed out waiting for: \(what)")
    throw CancellationError()
}

let testBackoff = Backoff(initial: .milliseconds(20), maximum: .milliseconds(200))

/// One simulated node: an agent with fake WireGuard and routing, sharing the cluster's store.
final class SimNode: Sendable {
    let index: Int
    let name: NodeName
    let routing = FakeRouting()
    let devices: FakeWireGuardDevices
    let keys: NodeKeys
    let settings: NodeSettings
    let store: any Datastore
    let logger: Logger

    init(index: Int, store: any Datastore) async {
        self.index = index
        self.store = store
        name = .must("n\(index)")
        devices = FakeWireGuardDevices(links: routing)
        keys = NodeKeys(privateKey: .fixture(UInt8(index)), publicKey: .fixture("n\(index)"))
        let address = IPAddress.must("192.168.77.1\(index)")
        settings = NodeSettings(node: name, address: address, podCIDRs: [.must("10.244.\(index).0/24")],
                                tunnelAddress: .must("10.244.\(index).1"))
        var logger = Logger(label: "test.agent")
        logger.logLevel = .critical
        self.logger = logger
        await routing.addLink("eth0", addresses: [InterfaceAddress(address: address, prefixLength: 24)])
    }

    func makeAgent(health: AgentHealth = AgentHealth(), resyncInterval: Duration = .milliseconds(200),
                   statusInterval: Duration = .milliseconds(200), statusPeerLimit: Int = 128) -> Agent {
        Agent(configuration: AgentConfiguration(settings: settings, leaseTTL: 3, resyncInterval: resyncInterval,
                                                statusInterval: statusInterval, statusPeerLimit: statusPeerLimit, backoff: testBackoff),
              keys: keys, store: store, devices: devices, routing: routing, wallClock: FixedWallClock(), logger: logger,
              health: health)
    }

    func peerKeys() async -> Set<PublicKey> {
        Set(await devices.devices[settings.interface]?.peers.map(\.publicKey) ?? [])
    }

    func routes() async -> [String] {
        await routing.routeTable.filter { $0.table == settings.table }.sorted().map(\.description)
    }
}

func makeController(_ store: any Datastore, identity: String = "c1", ttl: Int64 = 3) -> Controller {
    var logger = Logger(label: "test.controller")
    logger.logLevel = .critical
    return Controller(configuration: ControllerConfiguration(identity: identity, pools: [.must("10.244.0.0/16")], leaseTTL: ttl,
                                                             backoff: testBackoff),
                      store: store, wallClock: FixedWallClock(), logger: logger)
}

/// A store with encryption enabled, nodes n1…n`count` on it, and a controller (not yet running).
func enabledMesh(nodes count: Int) async throws -> (store: InMemoryDatastore, nodes: [SimNode], controller: Controller) {
    let store = InMemoryDatastore()
    var nodes: [SimNode] = []
    for index in 1...count { nodes.append(await SimNode(index: index, store: store)) }
    let controller = makeController(store)
    try await enable(store)
    return (store, nodes, controller)
}

func enable(_ store: any Datastore, strict: Bool = false) async throws {
    try await store.put(StoreKeys.config, value: RecordCodec.encode(ClusterConfig(enabled: true, strict: strict)), lease: nil)
}

func disable(_ store: any Datastore) async throws {
    try await store.put(StoreKeys.config, value: RecordCodec.encode(ClusterConfig(enabled: false, strict: false)), lease: nil)
}

/// Runs `body` with the given services running as child tasks, cancelling them afterwards.
func running(_ services: [any Service], _ body: () async throws -> Void) async throws {
    try await withThrowingTaskGroup(of: Void.self) { group in
        for service in services { group.addTask { try await service.run() } }
        defer { group.cancelAll() }
        try await body()
    }
}
