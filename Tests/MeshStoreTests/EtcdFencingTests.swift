import Foundation
import MeshCore
import MeshLab
import MeshStoreEtcd
import Testing

/// etcd with authentication on, set up by ``EtcdAccessSetup`` from ``AccessPlan``: a node's
/// credentials write that node's claim and status and nothing else; only the controller writes
/// peers. A real etcd, started by the test.
@Suite(.enabled(if: EtcdCluster.isInstalled, "needs etcd-server and etcd-client (scripts/install-deps.sh installs them)"))
struct EtcdFencingTests {
    @Test func nodeCredentialsCannotWriteAnotherNodesClaimNorPeers() async throws {
        let cluster = try EtcdCluster.start()
        defer { cluster.stop() }
        let (a, b) = (try NodeName("node-a"), try NodeName("node-b"))
        let passwords = ["root": "root-secret-1", "ctl": "controller-secret-2", "a": "a-secret-3", "b": "b-secret-4"]
        let users = [
            EtcdAccessSetup.User(name: AccessPlan.controllerUser, password: passwords["ctl"]!, role: AccessPlan.controller),
            EtcdAccessSetup.User(name: AccessPlan.nodeUser(a), password: passwords["a"]!, role: AccessPlan.node(a)),
            EtcdAccessSetup.User(name: AccessPlan.nodeUser(b), password: passwords["b"]!, role: AccessPlan.node(b)),
        ]
        let admin = try EtcdDatastore(configuration: testEtcdConfiguration(cluster.endpoints))
        let done = try await admin.apply(users: users, rootPassword: passwords["root"]!)
        admin.close()
        #expect(done.contains("authentication enabled"), "\(done)")

        func store(_ user: String, _ password: String) throws -> EtcdDatastore {
            try EtcdDatastore(configuration: testEtcdConfiguration(cluster.endpoints, credentials: .init(user: user, password: password)))
        }
        let controller = try store(AccessPlan.controllerUser, passwords["ctl"]!)
        let nodeA = try store(AccessPlan.nodeUser(a), passwords["a"]!)
        let nodeB = try store(AccessPlan.nodeUser(b), passwords["b"]!)
        defer { [controller, nodeA, nodeB].forEach { $0.close() } }

        // Each node publishes its own claim (under a lease) and status.
        let lease = try await nodeA.grantLease(ttl: 30)
        try await nodeA.put(StoreKeys.claim(a), value: Array("claim of a".utf8), lease: lease.id)
        try await nodeA.put(StoreKeys.status(a), value: Array("status of a".utf8), lease: lease.id)
        try await nodeB.put(StoreKeys.claim(b), value: Array("claim of b".utf8), lease: nil)

        // Node A cannot overwrite, delete or fence out node B's claim, nor publish peers.
        for attempt in [
            { try await nodeA.put(StoreKeys.claim(b), value: Array("hijacked".utf8), lease: nil) },
            { _ = try await nodeA.delete(StoreKeys.claim(b)) },
            { _ = try await nodeA.commit(Transaction(compares: [], success: [.put(key: StoreKeys.claim(b), value: [1], lease: nil)])) },
            { try await nodeA.put(StoreKeys.status(b), value: Array("forged status".utf8), lease: nil) },
            { try await nodeA.put(StoreKeys.peer(a), value: Array("self-accepted".utf8), lease: nil) },
            { try await nodeA.put(StoreKeys.config, value: Array(#"{"enabled":false}"#.utf8), lease: nil) },
        ] as [@Sendable () async throws -> Void] {
            let error = await meshError(attempt)
            #expect(error?.code == .permissionDenied, "\(String(describing: error))")
            #expect(error?.message.contains("permission denied") == true, "\(String(describing: error))")
        }
        #expect(try await controller.get(StoreKeys.claim(b)).map { text($0.value) } == "claim of b")

        // Nodes read everything under the root (they follow config and peers), and watch it;
        // statuses live outside it, and the controller reads them all.
        let listing = try await nodeA.list(prefix: StoreKeys.root)
        #expect(listing.items.map(\.key) == [StoreKeys.claim(a), StoreKeys.claim(b)])
        #expect(try await nodeA.get(StoreKeys.status(a)).map { text($0.value) } == "status of a")
        let everything = try await controller.list(prefix: StoreKeys.all)
        #expect(everything.items.map(\.key) == [StoreKeys.status(a), StoreKeys.claim(a), StoreKeys.claim(b)])

        // The controller writes peers; a node without credentials gets nothing.
        try await controller.put(StoreKeys.peer(b), value: Array("accepted b".utf8), lease: nil)
        let anonymous = try EtcdDatastore(configuration: testEtcdConfiguration(cluster.endpoints))
        defer { anonymous.close() }
        let unauthenticated = await meshError { _ = try await anonymous.get(StoreKeys.peer(b)) }
        #expect(unauthenticated?.code == .permissionDenied, "\(String(describing: unauthenticated))")
        // A wrong password is refused without echoing it.
        let impostor = try store(AccessPlan.nodeUser(b), "not-the-password")
        defer { impostor.close() }
        let refused = await meshError { _ = try await impostor.get(StoreKeys.claim(b)) }
        #expect(refused?.code == .permissionDenied)
        #expect(refused.map { !$0.message.contains("not-the-password") } == true, "\(String(describing: refused))")
    }
}
