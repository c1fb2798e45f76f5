public import Logging
public import MeshCore
import MeshCodec
public import ServiceLifecycle

/// The controller: the only writer of accepted peers. One instance is active at a time, holding
/// a lease-bound leader key; others stand by and take over when that key vanishes.
///
/// Every write of the active controller is fenced: it happens in a transaction that requires the
/// leader key to still carry this instance's create revision, so a controller that lost its
/// lease (paused, partitioned) cannot overwrite its successor's decisions.
public final class Controller: Service {
    let configuration: ControllerConfiguration
    let store: any Datastore
    let wallClock: any WallClock
    let logger: Logger
    /// Whether this instance currently leads; for status and tests.
    public let leadership = Leadership()

    public init(configuration: ControllerConfiguration, store: any Datastore, wallClock: any WallClock, logger: Logger) {
        self.configuration = configuration
        self.store = store
        self.wallClock = wallClock
        var logger = logger
        logger[metadataKey: "controller"] = "\(configuration.identity)"
        self.logger = logger
    }

    public func run() async throws {
        guard !configuration.pools.isEmpty else {
            throw MeshError(.invalidArgument, "the controller needs at least one --pod-cidr-pool")
        }
        logger.info("controller starting", metadata: ["pools": "\(configuration.pools.map(\.description).joined(separator: ","))"])
        await cancelWhenGracefulShutdown {
            var backoff = self.configuration.backoff
            while !Task.isCancelled {
                do {
                    let (lease, fence) = try await self.campaign()
                    backoff.reset()
                    await self.lead(lease: lease, fence: fence)
                } catch is CancellationError {
                    return
                } catch {
                    self.logger.warning("datastore unavailable; retrying", metadata: ["error": "\(error)"])
                    try? await Task.sleep(for: backoff.next())
                }
            }
        }
    }

    /// Returns once this instance holds the leader key: its lease and the key's create revision.
    func campaign() async throws -> (Lease, Revision) {
        let record = RecordCodec.encode(LeaderRecord(identity: configuration.identity, since: wallClock.now()))
        var announcedStandby = false
        while true {
            try Task.checkCancellation()
            let lease = try await store.grantLease(ttl: configuration.leaseTTL)
            if try await store.create(StoreKeys.leader, value: record, lease: lease.id),
               let kv = try await store.get(StoreKeys.leader) {
                logger.info("became the active controller", metadata: ["lease": "\(lease.id)"])
                return (lease, kv.createRevision)
            }
            try await store.revoke(lease.id)
            // Someone else leads: wait for the key to go (lease expiry or revoke), then retry.
            guard let current = try await store.get(StoreKeys.leader) else { continue }
            if !announcedStandby {
                let holder = (try? RecordCodec.decode(LeaderRecord.self, from: current.value, key: current.key))?.identity ?? "?"
                logger.info("standing by", metadata: ["active": "\(holder)"])
                announcedStandby = true
            }
            for try await batch in store.watch(prefix: StoreKeys.leader, from: current.modRevision + 1) {
                if batch.events.contains(where: { if case .delete = $0 { true } else { false } }) { break }
            }
        }
    }

    /// Leads until the lease is lost or the task is cancelled.
    func lead(lease: Lease, fence: Revision) async {
        leadership.set(lease)
        defer { leadership.set(nil) }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.keepLeadership(lease) }
            group.addTask { await self.work(fence: fence) }
            // Whichever ends first (lost lease, lost fence, cancellation) ends leadership.
            await group.next()
            group.cancelAll()
        }
        if Task.isCancelled {
            // A graceful stop hands over at once instead of making the standby wait for expiry.
            // The revoke runs in its own task: this one is cancelled and the store may refuse.
            let store = self.store
            await Task { try? await store.revoke(lease.id) }.value
            logger.info("stepped down")
        } else {
            logger.warning("no longer the active controller")
        }
    }

    func keepLeadership(_ lease: Lease) async {
        var failures = 0
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: .seconds(Double(lease.ttl) / 3))
                try await store.keepAlive(lease.id)
                failures = 0
            } catch is CancellationError {
                return
            } catch let error as MeshError where error.code == .leaseNotFound {
                logger.warning("leadership lease expired")
                return
            } catch {
                // Three misses in a row is a full TTL: the lease is gone or about to be.
                failures += 1
                logger.warning("leadership keep-alive failed", metadata: ["error": "\(error)"])
                if failures >= 3 { return }
            }
        }
    }

    /// List, validate, write; then on every relevant change validate and write again.
    func work(fence: Revision) async {
        var backoff = configuration.backoff
        let poolsRecord = RecordCodec.encode(PoolsRecord(podCIDRPools: configuration.pools.map(\.description)))
        while !Task.isCancelled {
            do {
                var state = ControllerState()
                state.reset(to: try await store.list(prefix: StoreKeys.root))
                try await write(planControllerWrites(state, pools: configuration.pools, poolsRecord: poolsRecord), fence: fence, into: &state)
                for try await batch in store.watch(prefix: StoreKeys.root, from: state.revision + 1) {
                    var relevant = false
                    for event in batch.events { relevant = state.apply(event) || relevant }
                    guard relevant else { continue }
                    try await write(planControllerWrites(state, pools: configuration.pools, poolsRecord: poolsRecord), fence: fence, into: &state)
                    backoff.reset()
                }
                if Task.isCancelled { return }
            } catch is CancellationError {
                return
            } catch let error as MeshError where error.code == .conflict {
                logger.warning("lost the leader key; stepping down", metadata: ["error": "\(error)"])
                return
            } catch let error as MeshError where error.code == .compacted {
                logger.info("watch history compacted; re-listing")
            } catch {
                logger.warning("controller loop failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    /// Writes in fenced transactions of at most 64 operations (etcd allows 128 per txn), and
    /// records each committed one in `state`.
    func write(_ plan: ControllerPlan, fence: Revision, into state: inout ControllerState) async throws {
        for decision in plan.decisions { logger.notice("\(decision)") }
        var start = 0
        while start < plan.operations.count {
            let chunk = Array(plan.operations[start..<min(start + 64, plan.operations.count)])
            let result = try await store.commit(Transaction(compares: [Compare(StoreKeys.leader, .createRevision(fence))], success: chunk))
            guard result.succeeded else {
                throw MeshError(.conflict, "the leader key changed hands; not writing")
            }
            state.applyOwnWrites(chunk, at: result.revision)
            start += 64
        }
    }
}

/// Whether this controller instance leads, and with which lease.
public final class Leadership: Sendable {
    private let state = LockedLease()
    public init() {}
    public var lease: Lease? { state.get() }
    public var isLeader: Bool { lease != nil }
    func set(_ lease: Lease?) { state.set(lease) }
}

import Synchronization

final class LockedLease: Sendable {
    private let value = Mutex<Lease?>(nil)
    func get() -> Lease? { value.withLock { $0 } }
    func set(_ lease: Lease?) { value.withLock { $0 = lease } }
}
