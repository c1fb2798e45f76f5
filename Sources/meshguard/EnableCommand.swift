import ArgumentParser
import Foundation
import Logging
import MeshCodec
import MeshCore

struct EnableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enable",
        abstract: "Turn on encryption of pod-to-pod traffic between nodes, cluster-wide."
    )
    @OptionGroup var store: StoreOptions
    @Flag(help: "Refuse plaintext: traffic to pod CIDRs without an accepted key is dropped, not sent in the clear.")
    var strict = false
    @Option(help: "Device MTU on every node (default: each node's underlay MTU − 60).") var mtu: Int?
    @Option(help: "Persistent keepalive in seconds (0: off).") var persistentKeepalive = 0
    @Flag(help: "Wait until every running agent has applied it.") var wait = false
    @Option(help: "How long --wait waits, in seconds.") var timeout = 60

    func validate() throws {
        if let mtu, !(576...65535).contains(mtu) { throw ValidationError("--mtu \(mtu) is out of range (576-65535)") }
        guard (0...65535).contains(persistentKeepalive) else { throw ValidationError("--persistent-keepalive \(persistentKeepalive) is out of range") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
        let config = ClusterConfig(enabled: true, strict: strict, mtu: mtu, persistentKeepalive: persistentKeepalive)
        let revision = try await db.put(StoreKeys.config, value: RecordCodec.encode(config), lease: nil)
        print("encryption enabled\(strict ? " (strict: plaintext between nodes is refused)" : "")")
        if wait { try await waitForAgents(db, enabled: true, applied: revision, timeout: timeout) }
    }
}

struct DisableCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "disable",
        abstract: "Turn off encryption cluster-wide: every agent removes its device, rule and routes; traffic continues unencrypted."
    )
    @OptionGroup var store: StoreOptions
    @Flag(help: "Wait until every running agent has applied it.") var wait = false
    @Option(help: "How long --wait waits, in seconds.") var timeout = 60

    func run() async throws {
        let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
        var config = try await db.get(StoreKeys.config).flatMap { try? RecordCodec.decode(ClusterConfig.self, from: $0.value, key: $0.key) }
            ?? ClusterConfig(enabled: false, strict: false)
        config.enabled = false
        let revision = try await db.put(StoreKeys.config, value: RecordCodec.encode(config), lease: nil)
        print("encryption disabled: agents remove their WireGuard device, rule and routes")
        if wait { try await waitForAgents(db, enabled: false, applied: revision, timeout: timeout) }
    }
}

/// Waits until every node whose agent runs reports, in sync, a state at or after `revision` (the
/// config write being waited for; a status from before it proves nothing): with encryption on,
/// also until no path between running, accepted nodes is plaintext or unverified.
func waitForAgents(_ store: any Datastore, enabled: Bool, applied revision: Revision, timeout: Int) async throws {
    let deadline = ContinuousClock.now + .seconds(timeout)
    var last = ""
    while ContinuousClock.now < deadline {
        let loaded = try await loadRecords(from: store)
        let report = buildClusterReport(loaded.records)
        let running = report.nodes.filter(\.agentRunning)
        let settled = running.allSatisfy { node in
            guard let status = loaded.records.statuses[node.name], status.inSync, status.enabled == enabled,
                  status.appliedRevision >= revision else { return false }
            return !enabled || node.standing != .accepted || node.peersProgrammed == node.peersExpected
        }
        let accepted = Set(running.filter { $0.standing == .accepted }.map(\.name))
        let open = (report.plaintextPaths + report.unverifiedPaths).filter { accepted.contains($0.from) && accepted.contains($0.to) }
        if settled && (!enabled || open.isEmpty) {
            print("all \(running.count) running agents report \(enabled ? "encryption on" : "encryption off"), in sync")
            return
        }
        last = open.first.map { "\($0.from) → \($0.to): \($0.reason)" } ?? "waiting for agents to report"
        try await Task.sleep(for: .milliseconds(250))
    }
    throw MeshError(.timeout, "agents did not all apply the change within \(timeout)s (\(last)); see `meshguard status`")
}
