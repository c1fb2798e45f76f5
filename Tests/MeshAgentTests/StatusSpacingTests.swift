@testable import MeshAgent
import MeshCore
import MeshTestKit
import Testing

/// Status writes are spaced so that the whole cluster makes about
/// `clusterStatusWritesPerSecond` of them a second, and never closer than configured.
@Suite struct StatusSpacing {
    @Test(arguments: [
        // (nodes, the configured spacing in ms) → the spacing used, ms
        (nodes: 0, configured: 1_000, used: 1_000),
        (nodes: 3, configured: 1_000, used: 1_000),
        (nodes: 100, configured: 1_000, used: 1_000),
        (nodes: 200, configured: 1_000, used: 1_000),
        (nodes: 1_000, configured: 1_000, used: 5_000),
        (nodes: 1_000, configured: 10_000, used: 10_000),
        (nodes: 5_000, configured: 10_000, used: 25_000),
    ])
    func spacingGrowsWithTheMesh(_ c: (nodes: Int, configured: Int, used: Int)) {
        let configuration = AgentConfiguration(settings: NodeSettings(node: .must("n1"), address: .must("192.168.77.11"),
                                                                      podCIDRs: [.must("10.244.1.0/24")], tunnelAddress: nil))
        #expect(configuration.statusSpacing(.milliseconds(c.configured), nodes: c.nodes) == .milliseconds(c.used))
    }

    @Test func aRateOfZeroIsTakenAsOne() {
        let configuration = AgentConfiguration(settings: NodeSettings(node: .must("n1"), address: .must("192.168.77.11"),
                                                                      podCIDRs: [.must("10.244.1.0/24")], tunnelAddress: nil),
                                               clusterStatusWritesPerSecond: 0)
        #expect(configuration.statusSpacing(.seconds(1), nodes: 3) == .seconds(3))
    }
}
