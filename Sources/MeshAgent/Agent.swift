public import Logging
public import MeshCore
import CoreMetrics
import MeshCodec
public import ServiceLifecycle

/// The per-node agent: publishes this node's claim, follows the accepted peers and cluster
/// config in the store, and keeps the node's WireGuard device, routes and rule in line with
/// them, applying only differences.
///
/// It never tears the data plane down because it stopped, lost the store or restarted: the
/// device (wireguard-go or the kernel's) keeps running without it, and a restarted agent
/// re-attaches, reads everything once, and then changes only what differs.
public final class Agent: Service {
    let configuration: AgentConfiguration
    let keys: NodeKeys
    let store: any Datastore
    let devices: any WireGuardDevices
    let routing: any Routing
    let wallClock: any WallClock
    let logger: Logger
    public let health: AgentHealth
    let metrics: AgentMetrics
    let state: AgentState

    public init(configuration: AgentConfiguration, keys: NodeKeys, store: any Datastore, devices: any WireGuardDevices,
                routing: any Routing, wallClock: any WallClock, logger: Logger, health: AgentHealth = AgentHealth()) {
        self.configuration = configuration
        self.keys = keys
        self.store = store
        self.devices = devices
        self.routing = routing
        self.wallClock = wallClock
        var logger = logger
        logger[metadataKey: "node"] = "\(configuration.settings.node)"
        self.logger = logger
        self.health = health
        self.metrics = AgentMetrics(backend: devices.kind)
        self.state = AgentState(node: configuration.settings.node)
        health.update { $0.backend = devices.kind }
    }

    var settings: NodeSettings { configuration.settings }

    public func run() async throws {
        logger.info("agent starting", metadata: [
            "publicKey": "\(keys.publicKey.fingerprint)", "backend": "\(devices.kind.rawValue)",
            "interface": "\(settings.interface)", "address": "\(settings.address)",
            "podCIDRs": "\(settings.podCIDRs.map(\.description).joined(separator: ","))",
        ])
        let (triggers, trigger) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let (statusWakeups, statusWakeup) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        await state.setStatusWakeup(statusWakeup)
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.claimLoop() }
                group.addTask { await self.syncLoop(trigger: trigger) }
                group.addTask { await self.reconcileLoop(triggers: triggers, trigger: trigger) }
                group.addTask { await self.resyncTick(trigger: trigger) }
                group.addTask { await self.tick(every: .milliseconds(250), trigger: statusWakeup) }
                group.addTask { await self.statusLoop(wakeups: statusWakeups) }
            }
        }
        logger.info("agent stopped; the data plane stays as it is")
    }

    // MARK: claim and lease

    var claim: ClaimRecord {
        ClaimRecord(node: settings.node.rawValue, publicKey: keys.publicKey.base64, keyGeneration: 1,
                    address: settings.address.description, listenPort: Int(settings.listenPort),
                    podCIDRs: settings.podCIDRs.map(\.description), agent: configuration.agentVersion)
    }

    /// Keeps the claim published under a live lease: grant, put, keep alive every TTL/3; a lost
    /// lease is granted again and the claim re-put; a claim deleted by someone is re-put.
    func claimLoop() async {
        var backoff = configuration.backoff
        let value = RecordCodec.encode(claim)
        let key = StoreKeys.claim(settings.node)
        while !Task.isCancelled {
            do {
                if let lease = await state.lease {
                    try await Task.sleep(for: .seconds(Double(configuration.leaseTTL) / 3))
                    try await store.keepAlive(lease.id)
                    if await state.claimMissing() {
                        logger.warning("own claim was removed from the store; publishing it again")
                        await state.claimWritten(at: try await store.put(key, value: value, lease: lease.id))
                    }
                } else {
                    let lease = try await store.grantLease(ttl: configuration.leaseTTL)
                    await state.claimWritten(at: try await store.put(key, value: value, lease: lease.id))
                    await state.setLease(lease)
                    logger.info("claim published", metadata: ["lease": "\(lease.id)", "ttl": "\(lease.ttl)"])
                }
                backoff.reset()
            } catch is CancellationError {
                return
            } catch let error as MeshError where error.code == .leaseNotFound {
                logger.warning("lease expired; publishing the claim under a new lease")
                await state.setLease(nil)
            } catch {
                logger.warning("claim publication failed; retrying", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    // MARK: store → state

    /// Lists the whole Meshguard prefix, then follows it with a watch; on any store failure
    /// waits and starts over. A compacted watch re-lists at once.
    func syncLoop(trigger: AsyncStream<Void>.Continuation) async {
        var backoff = configuration.backoff
        while !Task.isCancelled {
            do {
                let listing = try await store.list(prefix: StoreKeys.root)
                await state.reset(to: listing)
                // The store was away or the watch lost: whatever happened meanwhile, the next
                // pass reads the data plane back instead of trusting what it last applied.
                await state.requestResync()
                health.update {
                    $0.storeReachable = true
                    $0.fullSyncDone = true
                    $0.knownRevision = max($0.knownRevision, listing.revision)
                }
                trigger.yield()
                for try await batch in store.watch(prefix: StoreKeys.root, from: listing.revision + 1) {
                    let (relevant, revision) = await state.apply(batch.events)
                    health.update { $0.storeReachable = true; if relevant { $0.knownRevision = max($0.knownRevision, revision) } }
                    if relevant { trigger.yield() }
                    backoff.reset()
                }
                if Task.isCancelled { return }
                throw MeshError(.unavailable, "the datastore ended the watch")
            } catch is CancellationError {
                return
            } catch let error as MeshError where error.code == .compacted {
                logger.info("watch history compacted; re-listing")
            } catch {
                health.update { $0.storeReachable = false; $0.lastError = "\(error)" }
                logger.warning("datastore unavailable; the data plane is left as it is", metadata: ["error": "\(error)"])
                try? await Task.sleep(for: backoff.next())
            }
        }
    }

    // MARK: state → data plane

    func reconcileLoop(triggers: AsyncStream<Void>, trigger: AsyncStream<Void>.Continuation) async {
        var backoff = configuration.backoff
        var reportedRevision: Revision = 0
        let reconciler = Reconciler(settings: settings, keys: keys, devices: devices, routing: routing, logger: logger)
        // The data plane as the last pass left it. Passes between resyncs plan against it
        // instead of reading everything back; a resync, a re-list or a failure forgets it.
        var known: KnownDataplane?
        var parsed = PeerParseCache()
        // What changed in the view since the last pass that succeeded.
        var changes = ViewChanges.everything
        for await _ in triggers {
            // Until the store has been read once, the view is empty and would mean "disabled":
            // acting on it would tear down a working data plane after an agent restart.
            guard let (view, revision, corrupt, changed) = await state.snapshotAfterFullSync() else { continue }
            changes.formUnion(changed)
            if await state.takeResyncDue() { known = nil }
            let started = ContinuousClock.now
            do {
                let report = try await reconciler.reconcile(view, changes: changes, removeUnknownPeers: true, known: known, parsed: &parsed)
                known = report.known
                changes = ViewChanges()
                await state.setDevice(report.device, names: report.nodesByKey, incomplete: report.incomplete)
                let elapsed = ContinuousClock.now - started
                metrics.reconciles.increment()
                // Status says which revision is applied; `enable --wait` and operators rely on
                // it, so a newer one is written at once even when the data plane did not change.
                var statusChanged = false
                if revision > reportedRevision {
                    reportedRevision = revision
                    statusChanged = true
                }
                if report.changed {
                    metrics.applyDuration.recordNanoseconds(elapsed.nanoseconds)
                    logger.info("applied", metadata: [
                        "revision": "\(revision)", "peers": "\(report.peerChanges)", "routes": "\(report.routeChanges)",
                        "rules": "\(report.ruleChanges)", "duration": "\(elapsed)",
                    ])
                    statusChanged = true
                }
                let problems = report.problems + corrupt.map { "\($0.key): \($0.value)" }.sorted()
                for problem in problems where await state.firstTime(problem) {
                    logger.error("ignored a bad record", metadata: ["problem": "\(problem)"])
                }
                health.update {
                    $0.lastApplyOK = true
                    $0.appliedRevision = max($0.appliedRevision, revision)
                    $0.lastError = problems.first
                }
                // Only now: the status written on this wake-up reads the health just updated.
                if statusChanged { await state.markStatusDirty() }
                metrics.inSync.record(health.snapshot.ready ? 1 : 0)
                metrics.storeRevision.record(revision)
                backoff.reset()
            } catch {
                known = nil
                await state.setDevice(nil, names: [:], incomplete: [])
                metrics.syncErrors.increment()
                metrics.inSync.record(0)
                health.update { $0.lastApplyOK = false; $0.lastError = "\(error)" }
                logger.error("apply failed; retrying", metadata: ["error": "\(error)"])
                await state.markStatusDirty()
                try? await Task.sleep(for: backoff.next())
                trigger.yield()
            }
        }
    }

    /// Every resync interval, a pass that reads everything back and repairs what was changed
    /// behind the agent's back.
    func resyncTick(trigger: AsyncStream<Void>.Continuation) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: configuration.resyncInterval)
            await state.requestResync()
            trigger.yield()
        }
    }

    func tick(every interval: Duration, trigger: AsyncStream<Void>.Continuation) async {
        while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            trigger.yield()
        }
    }

    // MARK: status

    /// Writes `/meshguard/status/v1/<node>` under the claim's lease: after changes, and every status interval
    /// so handshake times and byte counters stay fresh. Writes after changes are at least
    /// `statusMinInterval` apart: a burst of changes makes one write, not one per change (on a
    /// large cluster every node rewrote its status for every key). Both spacings grow with
    /// the mesh (``AgentConfiguration/statusSpacing(_:nodes:)``).
    func statusLoop(wakeups: AsyncStream<Void>) async {
        var lastWritten: [UInt8] = []
        var lastWrite: ContinuousClock.Instant?
        var peers = StatusPeers()
        // Woken when something changed, and every 250 ms: a change that came too soon after
        // the last write is written by a later wake-up.
        for await _ in wakeups {
            let since = lastWrite.map { ContinuousClock.now - $0 }
            let nodes = await state.nodeCount()
            let due = since.map { $0 >= configuration.statusSpacing(configuration.statusInterval, nodes: nodes) } ?? true
            guard due || since.map({ $0 >= configuration.statusSpacing(configuration.statusMinInterval, nodes: nodes) }) ?? true else { continue }
            let dirty = await state.takeStatusDirty()
            guard dirty || due, let lease = await state.lease else { continue }
            lastWrite = ContinuousClock.now
            // A write for a change shows the device as the pass left it; the periodic one
            // reads it for fresh handshake times and counters.
            let (record, entries) = await statusRecord(readDevice: due, peers: &peers)
            metrics.recordPeers(entries, values: due)
            let value = RecordCodec.encode(record)
            guard value != lastWritten || dirty else { continue }
            do {
                try await store.put(StoreKeys.status(settings.node), value: value, lease: lease.id)
                lastWritten = value
            } catch {
                logger.debug("status write failed", metadata: ["error": "\(error)"])
                await state.markStatusDirty()
            }
        }
    }

    /// The status, and an entry for every programmed peer (for the metrics; the status lists
    /// them only up to ``AgentConfiguration/statusPeerLimit``).
    func statusRecord(readDevice: Bool = true, peers cache: inout StatusPeers) async -> (NodeStatusRecord, [NodeStatusRecord.Peer]) {
        let snapshot = health.snapshot
        let view = await state.currentView()
        let enabled = view.config?.enabled == true
        var peers: [NodeStatusRecord.Peer] = []
        var (device, names, incomplete) = await state.lastApplied
        if readDevice || device == nil { device = enabled ? try? await devices.device(named: settings.interface) : nil }
        if enabled, let device {
            if names.isEmpty {
                // No pass yet: the names come from the records themselves.
                names = Dictionary(view.peers.compactMap { node, record in
                    (try? PublicKey(base64: record.publicKey)).map { ($0, node) }
                }, uniquingKeysWith: { a, _ in a })
            }
            peers = cache.entries(for: device, names: names)
        }
        var totals = NodeStatusRecord.PeerTotals(listing: peers)
        totals.listed = peers.count <= configuration.statusPeerLimit
        let record = NodeStatusRecord(
            node: settings.node.rawValue, backend: devices.kind, interface: settings.interface,
            enabled: view.config?.enabled ?? false, strict: view.config?.strict ?? false,
            publicKeyFingerprint: keys.publicKey.fingerprint, peers: totals.listed ? peers.sorted { $0.node < $1.node } : [],
            totals: totals, incompletePeers: incomplete.isEmpty ? nil : incomplete.map(\.rawValue).sorted(),
            appliedRevision: snapshot.appliedRevision, inSync: snapshot.ready, lastError: snapshot.lastError,
            updatedAt: wallClock.now())
        return (record, peers)
    }
}

/// The agent's mutable state, shared by its loops.
actor AgentState {
    private var mesh: MeshState
    private var fullSyncDone = false
    private(set) var lease: Lease?
    private var statusDirty = true
    private var resyncDue = false
    private var reported: Set<String> = []
    /// The device as the last pass left it, the node of each key it programmed and the
    /// accepted peers it could not program in full; nil and empty before the first pass and
    /// after a failure.
    private(set) var lastApplied: (device: DeviceState?, names: [PublicKey: NodeName], incomplete: Set<NodeName>) = (nil, [:], [])

    init(node: NodeName) { mesh = MeshState(node: node) }

    func reset(to listing: Listing) {
        mesh.reset(to: listing)
        fullSyncDone = true
    }

    func apply(_ events: [WatchEvent]) -> (relevant: Bool, revision: Revision) {
        var relevant = false
        for event in events { relevant = mesh.apply(event) || relevant }
        return (relevant, mesh.revision)
    }

    /// The view, its revision, its undecodable keys and what changed in it since the last call.
    func snapshotAfterFullSync() -> (MeshView, Revision, [String: String], ViewChanges)? {
        fullSyncDone ? (mesh.view, mesh.revision, mesh.corrupt, mesh.takeChanges()) : nil
    }

    func currentView() -> MeshView { mesh.view }
    /// Nodes with an accepted record, this one included.
    func nodeCount() -> Int { mesh.view.peers.count }
    func setDevice(_ device: DeviceState?, names: [PublicKey: NodeName], incomplete: Set<NodeName>) {
        lastApplied = (device, names, incomplete)
    }
    func requestResync() { resyncDue = true }
    func takeResyncDue() -> Bool {
        defer { resyncDue = false }
        return resyncDue
    }
    private var claimWrittenAt: Revision = 0
    func claimWritten(at revision: Revision) { claimWrittenAt = max(claimWrittenAt, revision) }
    /// Whether the store lost this node's claim: absent from a view that has caught up with the
    /// agent's own last write of it. A view behind that write proves nothing; judged from it,
    /// agents whose watch lagged in a thousand-node mesh re-put their claim every keep-alive.
    func claimMissing() -> Bool { fullSyncDone && !mesh.ownClaimPresent && mesh.revision >= claimWrittenAt }
    private var statusWakeup: AsyncStream<Void>.Continuation?
    func setStatusWakeup(_ wakeup: AsyncStream<Void>.Continuation) { statusWakeup = wakeup }
    func setLease(_ lease: Lease?) { self.lease = lease; markStatusDirty() }
    func markStatusDirty() {
        statusDirty = true
        statusWakeup?.yield()
    }
    func takeStatusDirty() -> Bool {
        defer { statusDirty = false }
        return statusDirty
    }
    /// True the first time a given problem is seen, so a bad record is logged once, not every pass.
    func firstTime(_ problem: String) -> Bool { reported.insert(problem).inserted }
}

extension Duration {
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
