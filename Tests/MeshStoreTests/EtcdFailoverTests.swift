import Foundation
import MeshCore
import MeshLab
import MeshStoreEtcd
import Testing

/// Several endpoints mean failover: with any one member of a 3-member cluster gone, requests,
/// watches and lease keep-alives go on through the other two — whichever place the dead member
/// has in the endpoint list.
@Suite(.serialized, .enabled(if: EtcdCluster.isInstalled, "needs etcd-server and etcd-client (scripts/install-deps.sh installs them)"))
struct EtcdFailoverTests {
    /// The member killed is the first endpoint of the list, the one a client tries first; the
    /// last one for comparison.
    @Test(arguments: [0, 2])
    func everyOperationGoesOnWithOneMemberDead(killed index: Int) async throws {
        let cluster = try EtcdCluster.start(size: 3)
        defer { cluster.stop() }
        // Short enough that a client stuck on the dead member fails the test quickly, long
        // enough for an election on a busy machine.
        var configuration = testEtcdConfiguration(cluster.endpoints)
        configuration.requestTimeout = .seconds(10)
        let store = try EtcdDatastore(configuration: configuration)
        defer { store.close() }

        let start = try await store.put("/f/before", value: Array("1".utf8), lease: nil)
        let lease = try await store.grantLease(ttl: 30)
        let watch = await WatchRecorder.start(store.watch(prefix: "/f/", from: start))
        try await watch.waitForEvents(1)

        cluster.kill(cluster.members[index])

        // The client that was connected before the death…
        let after = try await store.put("/f/after", value: Array("2".utf8), lease: nil)
        #expect(try await store.get("/f/before").map { String(decoding: $0.value, as: UTF8.self) } == "1")
        #expect(try await store.keepAlive(lease.id) > 0)
        try await watch.wait(for: "the write after the death", timeout: .seconds(20)) { view in
            view.events.contains { $0.key == "/f/after" && $0.revision == after }
        }
        await watch.cancel()

        // …and one that starts while the member is dead.
        let fresh = try EtcdDatastore(configuration: configuration)
        defer { fresh.close() }
        #expect(try await fresh.list(prefix: "/f/").items.map(\.key) == ["/f/after", "/f/before"])
        #expect(try await fresh.delete("/f/after"))
    }
}
