import Foundation
import Logging
import MeshAgent
import MeshCore
import MeshCrypto
import MeshKernel
import MeshRouting
import MeshStoreEtcd
import MeshStoreSQLite
import MeshUserspace
import Synchronization

/// The one place that names concrete adapters.
enum Adapters {
    /// The datastore at `location`. With `create: false` a missing SQLite file is an error
    /// (`.unavailable`), not a new empty store: an agent pointed at the wrong path must not
    /// publish its claim where no controller looks. The file is opened on first use and opened
    /// again after a failure, so a store that appears later is picked up (agents retry).
    ///
    /// etcd: the client connects on first use and reconnects on its own; `create` does not
    /// apply (the cluster is there or it is not).
    static func store(_ options: StoreOptions, create: Bool, logger: Logger) throws -> any Datastore {
        switch try options.location() {
        case .sqlite(let path):
            return ReopeningDatastore {
                if !create && !FileManager.default.fileExists(atPath: path) {
                    throw MeshError(.unavailable, "datastore \(path) does not exist (the controller creates it; check --datastore)")
                }
                return try SQLiteDatastore(path: path)
            }
        case .etcd(let endpoints):
            let configuration = try options.etcdConfiguration(endpoints: endpoints)
            return ReopeningDatastore { try EtcdDatastore(configuration: configuration) }
        }
    }

    /// The etcd datastore itself (not reopening), for etcd-only commands; nil for SQLite.
    static func etcdStore(_ options: StoreOptions) throws -> EtcdDatastore? {
        guard case .etcd(let endpoints) = try options.location() else { return nil }
        return try EtcdDatastore(configuration: try options.etcdConfiguration(endpoints: endpoints))
    }

    static func loadOrCreateKeys(stateDirectory: String) throws -> NodeKeys {
        let privateKey = try KeyFile.loadOrCreate(stateDirectory: stateDirectory)
        return NodeKeys(privateKey: privateKey, publicKey: KeyGeneration.publicKey(for: privateKey))
    }

    /// The WireGuard backend for device `interface`.
    ///
    /// `auto` follows wg(8): a UAPI socket already there means a userspace implementation owns
    /// the device; otherwise the kernel's WireGuard when this kernel has it (looking up the
    /// genl family loads the module if it can be loaded); otherwise wireguard-go.
    static func devices(backend: WireGuardBackendChoice, interface: String, logger: Logger) throws -> any WireGuardDevices {
        func userspace() -> UserspaceDevices {
            var configuration = UserspaceDevices.Configuration()
            configuration.log = { message in logger.info("\(message)") }
            return UserspaceDevices(configuration: configuration)
        }
        switch backend {
        case .userspace:
            return userspace()
        case .kernel:
            if case .unavailable(let reason) = KernelDevices.availability() { throw reason }
            return KernelDevices()
        case .auto:
            let socket = userspace().socketPath(for: interface)
            if FileManager.default.fileExists(atPath: socket) {
                logger.info("a userspace WireGuard socket exists; using it", metadata: ["socket": "\(socket)"])
                return userspace()
            }
            switch KernelDevices.availability() {
            case .available:
                return KernelDevices()
            case .unavailable(let reason):
                logger.info("kernel WireGuard not usable; using wireguard-go", metadata: ["reason": "\(reason)"])
                return userspace()
            }
        }
    }

    static func routing() throws -> any Routing {
        try RtnetlinkRouting()
    }
}

/// `--wireguard-backend`.
enum WireGuardBackendChoice: String, CaseIterable {
    case auto, kernel, userspace
}

/// Opens the underlying store lazily and again after it failed to open, so every operation
/// either reaches the store or throws `.unavailable` with the reason; callers retry.
final class ReopeningDatastore: Datastore {
    private let open: @Sendable () throws -> any Datastore
    private let current = Mutex<(any Datastore)?>(nil)

    init(open: @escaping @Sendable () throws -> any Datastore) {
        self.open = open
    }

    private func store() throws -> any Datastore {
        try current.withLock { current in
            if let current { return current }
            do {
                let store = try open()
                current = store
                return store
            } catch let error as MeshError {
                throw error.code == .unavailable ? error : MeshError(.unavailable, error.message, errno: error.errno)
            }
        }
    }

    func get(_ key: String) async throws -> KeyValue? { try await store().get(key) }
    func list(prefix: String) async throws -> Listing { try await store().list(prefix: prefix) }
    func put(_ key: String, value: [UInt8], lease: LeaseID?) async throws -> Revision { try await store().put(key, value: value, lease: lease) }
    func delete(_ key: String) async throws -> Bool { try await store().delete(key) }
    func commit(_ transaction: Transaction) async throws -> TransactionResult { try await store().commit(transaction) }
    func grantLease(ttl: Int64) async throws -> Lease { try await store().grantLease(ttl: ttl) }
    func keepAlive(_ lease: LeaseID) async throws -> Int64 { try await store().keepAlive(lease) }
    func revoke(_ lease: LeaseID) async throws { try await store().revoke(lease) }
    func compact(upTo revision: Revision) async throws { try await store().compact(upTo: revision) }
    func currentRevision() async throws -> Revision { try await store().currentRevision() }

    func watch(prefix: String, from revision: Revision) -> AsyncThrowingStream<WatchBatch, any Error> {
        do {
            return try store().watch(prefix: prefix, from: revision)
        } catch {
            return AsyncThrowingStream { $0.finish(throwing: error) }
        }
    }
}
