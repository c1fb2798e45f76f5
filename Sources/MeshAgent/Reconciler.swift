import Logging
import MeshCore

/// What one reconcile pass did.
struct ReconcileReport: Sendable {
    /// Peers sent to the device (0 when nothing changed).
    var peerChanges = 0
    var routeChanges = 0
    var ruleChanges = 0
    var linkChanged = false
    var deviceCreated = false
    var tornDown = false
    var problems: [String] = []
    /// Accepted peers not programmed in full because of those problems.
    var incomplete: Set<NodeName> = []
    /// The data plane as the pass left it: read back, or known from the last state and the
    /// patches applied since. nil after a tear-down.
    var known: KnownDataplane?
    var device: DeviceState? { known?.device }
    /// Which node each programmed key belongs to, for the status.
    var nodesByKey: [PublicKey: NodeName] = [:]
    /// Whether the pass read the data plane back rather than trusting the state it was given.
    var readBack = false
    /// Whether the pass worked out only the changed peers (``updateDataplane(_:settings:view:changed:cache:)``).
    var partial = false
    var changed: Bool { peerChanges > 0 || routeChanges > 0 || ruleChanges > 0 || linkChanged || deviceCreated || tornDown }
}

/// What the agent knows of its data plane between read-backs: what the last pass read or
/// applied. Planning against it costs nothing per peer; reading the device, the link, two
/// route tables and the rules back costs every node O(peers) per change, which was the
/// largest part of each node's work in the 100-node benchmark.
struct KnownDataplane: Sendable {
    /// What the pass brought the data plane to: the next pass can work out a few changed peers
    /// from it alone.
    var desired: DesiredDataplane
    var underlayMTU: Int
    var device: DeviceState
    var link: LinkState
    var routes: [IPAddress.Family: [RouteSpec]]
    var rules: [RuleSpec]
}

/// One pass of observe → plan → apply over the device, link, routes and rules. Stateless apart
/// from its ports; the agent serialises passes.
struct Reconciler: Sendable {
    let settings: NodeSettings
    let keys: NodeKeys
    let devices: any WireGuardDevices
    let routing: any Routing
    let logger: Logger

    /// Brings the data plane to what `view` asks for. `removeUnknownPeers` is false until the
    /// agent has read the whole store once.
    ///
    /// `known` is the data plane as the previous pass left it (its ``ReconcileReport/known``);
    /// with it, the pass plans against that state instead of reading everything back. The
    /// caller passes nil on resync, after a re-list of the store and after any failure, so
    /// that a change made behind the agent's back is found within one resync interval. A
    /// device that had to be created is always read.
    ///
    /// `changes` says what differs in `view` from the view of the pass that left `known`; when
    /// only a few peer records do, the pass works out, plans and applies only those peers and
    /// their routes.
    ///
    /// `parsed` keeps the accepted records parsed from one pass to the next.
    func reconcile(_ view: MeshView, changes: ViewChanges = .everything, removeUnknownPeers: Bool, known: KnownDataplane? = nil,
                   parsed: inout PeerParseCache) async throws -> ReconcileReport {
        var phases = PhaseClock()
        var partial = false
        defer { logger.debug("reconcile phases", metadata: ["ms": "\(phases.summary)", "partial": "\(partial)"]) }
        let underlayMTU: Int
        if let mtu = known?.underlayMTU { underlayMTU = mtu } else { underlayMTU = try await self.underlayMTU() }
        phases.mark("mtu")
        var update: DataplaneUpdate?
        if let known, removeUnknownPeers, !changes.everything {
            update = updateDataplane(known.desired, settings: settings, view: view, changed: changes.peers, cache: &parsed)
        }
        guard let desired = update?.desired ?? desiredDataplane(settings: settings, view: view, privateKey: keys.privateKey,
                                                                underlayMTU: underlayMTU, cache: &parsed) else {
            return try await tearDown()
        }
        phases.mark("desired")
        var report = ReconcileReport(problems: desired.problems, incomplete: desired.incomplete, nodesByKey: desired.nodesByKey)
        let name = settings.interface

        // Order matters: the device and its peers first, then the link, then routes, and the
        // policy rule last, so traffic is steered into the tunnel only once it can carry it.
        report.deviceCreated = try await devices.ensureDevice(named: name)
        phases.mark("ensure")
        let known = report.deviceCreated ? nil : known.flatMap { $0.device.name == name ? $0 : nil }
        // The update is relative to the data plane the last pass left; a device read back
        // instead is planned in full.
        if known == nil { update = nil }
        report.partial = update != nil
        partial = report.partial
        let observed: DeviceState
        if let known {
            observed = known.device
        } else {
            guard let read = try await devices.device(named: name) else {
                throw MeshError(.unavailable, "WireGuard device \(name) vanished right after it was created")
            }
            observed = read
            report.readBack = true
        }
        phases.mark("read")
        let patch = update?.devicePatch(observed: observed)
            ?? plan(desired: desired.device, observed: observed, options: PlanOptions(removeUnknownPeers: removeUnknownPeers))
        phases.mark("plan")
        let device = observed.applying(patch)
        if !patch.isEmpty {
            try await devices.apply(patch, to: name)
            report.peerChanges = patch.peers.count
            logger.info("device updated", metadata: [
                "peers": "\(patch.peers.count)",
                "keyChanged": "\(patch.privateKey != nil)",
                "listenPort": "\(patch.listenPort.map(String.init) ?? "-")",
            ])
        }

        phases.mark("apply")
        var observedLink = known?.link
        if observedLink == nil { observedLink = try await routing.link(named: name) }
        guard let link = observedLink else {
            throw MeshError(.notFound, "WireGuard device \(name) has no network link")
        }
        let linkPatch = planLink(mtu: desired.routing.mtu, addresses: desired.routing.addresses, observed: link)
        if !linkPatch.isEmpty {
            if linkPatch.mtu != nil || linkPatch.up != nil {
                try await routing.setLink(named: name, mtu: linkPatch.mtu, up: linkPatch.up)
            }
            for address in linkPatch.removeAddresses { try await routing.removeAddress(address, from: name) }
            for address in linkPatch.addAddresses { try await routing.addAddress(address, to: name) }
            report.linkChanged = true
        }

        phases.mark("link")
        var routes: [IPAddress.Family: [RouteSpec]] = [:]
        for family in [IPAddress.Family.inet, .inet6] {
            let have: [RouteSpec]
            if let cached = known?.routes[family] { have = cached } else { have = try await routing.routes(table: settings.table, family: family) }
            let routePatch = update?.routePatch(family: family, observed: have)
                ?? planRoutes(desired: desired.routing.routes.filter { $0.destination.family == family }, observed: have)
            for route in routePatch.replace { try await routing.replaceRoute(route) }
            for route in routePatch.delete { try await routing.deleteRoute(route) }
            report.routeChanges += routePatch.replace.count + routePatch.delete.count
            routes[family] = routePatch.applied(to: have)
        }

        phases.mark("routes")
        let observedRules: [RuleSpec]
        if let cached = known?.rules { observedRules = cached } else { observedRules = try await routing.rules(family: .inet) + routing.rules(family: .inet6) }
        let rulePatch = planRules(desired: desired.routing.rules, table: settings.table, observed: observedRules)
        for rule in rulePatch.delete { try await routing.deleteRule(rule) }
        for rule in rulePatch.add { try await routing.addRule(rule) }
        report.ruleChanges = rulePatch.add.count + rulePatch.delete.count
        phases.mark("rules")
        report.known = KnownDataplane(desired: desired, underlayMTU: underlayMTU, device: device, link: link.applying(linkPatch),
                                      routes: routes, rules: rulePatch.applied(to: observedRules))
        return report
    }

    /// Encryption is off: remove the rule first (traffic falls back to plain routing at once),
    /// then the routes in our table, then the device. Idempotent; touches only what is ours.
    func tearDown() async throws -> ReconcileReport {
        var report = ReconcileReport()
        let observedRules = try await routing.rules(family: .inet) + routing.rules(family: .inet6)
        let rulePatch = planRules(desired: [], table: settings.table, observed: observedRules)
        for rule in rulePatch.delete { try await routing.deleteRule(rule) }
        for family in [IPAddress.Family.inet, .inet6] {
            for route in try await routing.routes(table: settings.table, family: family) {
                try await routing.deleteRoute(route)
                report.routeChanges += 1
            }
        }
        if try await devices.device(named: settings.interface) != nil {
            try await devices.deleteDevice(named: settings.interface)
            report.tornDown = true
        }
        report.ruleChanges = rulePatch.delete.count
        if report.changed { logger.info("encryption disabled: device, rule and routes removed") }
        return report
    }

    /// The MTU of the link that carries this node's underlay address.
    func underlayMTU() async throws -> Int {
        let links = try await routing.links()
        guard let link = links.first(where: { $0.addresses.contains { $0.address == settings.address } }) else {
            throw MeshError(.invalidArgument, "--address \(settings.address) is not configured on any interface of this node")
        }
        return link.mtu
    }
}

/// Milliseconds spent in each phase of a pass, for the debug log.
struct PhaseClock {
    private var last = ContinuousClock.now
    private var phases: [(String, Duration)] = []

    mutating func mark(_ phase: String) {
        let now = ContinuousClock.now
        phases.append((phase, now - last))
        last = now
    }

    var summary: String {
        phases.map { name, d in "\(name)=\(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)" }
            .joined(separator: " ")
    }
}
