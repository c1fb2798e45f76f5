import ArgumentParser
import Foundation
import Logging
import MeshCore

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract: "Show the cluster: nodes, keys, accepted or rejected claims, peers per node, handshakes, plaintext paths."
    )
    enum Format: String, ExpressibleByArgument, CaseIterable { case table, json }

    @OptionGroup var store: StoreOptions
    @Option(name: [.short, .customLong("output")], help: "Output format: table or json.") var output: Format = .table

    func run() async throws {
        let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
        let loaded = try await loadRecords(from: db)
        let report = buildClusterReport(loaded.records)
        switch output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        case .table:
            print(renderStatus(report, problems: loaded.problems, now: SystemWallClock().now()))
        }
    }
}

func renderStatus(_ r: ClusterReport, problems: [String], now: Timestamp) -> String {
    var out: [String] = []
    let mode = !r.configured ? "not configured (run `meshguard enable`)" : r.enabled ? (r.strict ? "enabled, strict" : "enabled") : "disabled"
    out.append("Encryption:  \(mode)")
    out.append("Controller:  \(r.controller ?? "none active")")
    out.append("Pod pools:   \(r.pools.isEmpty ? "-" : r.pools.joined(separator: ", "))")
    out.append("")
    let header = ["NODE", "STANDING", "ADDRESS", "KEY", "AGENT", "BACKEND", "IN SYNC", "PEERS", "LAST HANDSHAKE", "RX", "TX"]
    var rows: [[String]] = []
    for n in r.nodes {
        let handshake = n.latestHandshake.map { age(now.seconds - $0.seconds) } ?? "-"
        rows.append([n.name, n.standing.rawValue, n.address ?? "-", n.publicKeyFingerprint.map { $0 + "…" } ?? "-",
                     n.agentRunning ? "running" : "silent", n.backend?.rawValue ?? "-", n.inSync.map { $0 ? "yes" : "no" } ?? "-",
                     n.peersProgrammed.map { "\($0)/\(n.peersExpected)" } ?? "-", handshake, bytes(n.rxBytes), bytes(n.txBytes)])
    }
    out.append(contentsOf: table(header: header, rows: rows))
    let rejected = r.nodes.filter { $0.standing == .rejected }
    if !rejected.isEmpty {
        out.append("")
        out.append("Rejected claims:")
        for n in rejected { out.append("  \(n.name): \(n.reasons.joined(separator: "; "))") }
    }
    let errors = r.nodes.compactMap { n in n.lastError.map { "  \(n.name): \($0)" } }
    if !errors.isEmpty {
        out.append("")
        out.append("Agent errors:")
        out.append(contentsOf: errors)
    }
    out.append("")
    let total = r.encryptedPaths + r.plaintextPaths.count + r.blockedPaths.count + r.unverifiedPaths.count
    out.append("Paths between nodes: \(r.encryptedPaths)/\(total) encrypted, \(r.plaintextPaths.count) plaintext, \(r.blockedPaths.count) blocked (strict), \(r.unverifiedPaths.count) unverified")
    for p in r.plaintextPaths.prefix(20) { out.append("  plaintext  \(p.from) → \(p.to): \(p.reason)") }
    for p in r.blockedPaths.prefix(20) { out.append("  blocked    \(p.from) → \(p.to): \(p.reason)") }
    for p in r.unverifiedPaths.prefix(20) { out.append("  unverified \(p.from) → \(p.to): \(p.reason)") }
    if !problems.isEmpty {
        out.append("")
        out.append("Records that could not be read:")
        for p in problems { out.append("  \(p)") }
    }
    return out.joined(separator: "\n")
}

func table(header: [String], rows: [[String]]) -> [String] {
    let widths = header.indices.map { i in ([header[i]] + rows.map { $0[i] }).map(\.count).max() ?? 0 }
    func line(_ cells: [String]) -> String {
        zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ")
            .trimmingCharacters(in: .whitespaces)
    }
    return [line(header)] + rows.map(line)
}

func age(_ seconds: Double) -> String {
    let s = Int(max(0, seconds))
    if s < 120 { return "\(s)s ago" }
    if s < 7200 { return "\(s / 60)m ago" }
    return "\(s / 3600)h ago"
}

func bytes(_ n: UInt64) -> String {
    if n < 1024 { return "\(n) B" }
    if n < 1 << 20 { return String(format: "%.1f KiB", Double(n) / 1024) }
    if n < 1 << 30 { return String(format: "%.1f MiB", Double(n) / 1_048_576) }
    return String(format: "%.1f GiB", Double(n) / 1_073_741_824)
}
