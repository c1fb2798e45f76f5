import ArgumentParser
import Foundation
import Logging
import MeshCodec
import MeshCore

struct NodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "node",
        abstract: "List nodes, or remove a departed node's peer record.",
        subcommands: [List.self, Remove.self]
    )

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the nodes the datastore knows.")
        @OptionGroup var store: StoreOptions

        func run() async throws {
            let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
            let report = buildClusterReport(try await loadRecords(from: db).records)
            let rows = report.nodes.map { n in
                [n.name, n.standing.rawValue, n.address ?? "-", n.podCIDRs.joined(separator: ","), n.publicKeyFingerprint.map { $0 + "…" } ?? "-",
                 n.agentRunning ? "running" : "silent"]
            }
            for line in table(header: ["NODE", "STANDING", "ADDRESS", "POD CIDRS", "KEY", "AGENT"], rows: rows) { print(line) }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a departed node: the controller deletes its peer record, verdict, claim and status.",
            discussion: """
            Other nodes then drop the node's peer and routes. A node whose agent is still running (its claim is live) \
            is refused unless --force: the agent would publish its claim again and rejoin.
            """
        )
        @OptionGroup var store: StoreOptions
        @Argument(help: "The node to remove.") var name: String
        @Flag(help: "Remove even though the node's agent still holds a live claim.") var force = false
        @Option(help: "Seconds to wait for the controller to carry out the removal (0: do not wait).") var timeout = 30

        func validate() throws {
            do throws(MeshError) { _ = try NodeName(name) } catch { throw error.validation }
            guard timeout >= 0 else { throw ValidationError("--timeout must not be negative") }
        }

        func run() async throws {
            let node = try NodeName(name)
            let db = try Adapters.store(store, create: false, logger: Logger(label: "meshguard.cli"))
            let known = try await [StoreKeys.claim(node), StoreKeys.peer(node), StoreKeys.verdict(node), StoreKeys.status(node)]
                .asyncContains { try await db.get($0) != nil }
            guard known else { throw MeshError(.notFound, "node \(node) is not known to the datastore (see `meshguard node list`)") }
            if !force, try await db.get(StoreKeys.claim(node)) != nil {
                throw MeshError(.conflict, """
                    node \(node) still has a live claim: its agent is running or stopped less than one lease TTL ago. \
                    Stop the agent first, or pass --force.
                    """)
            }
            let request = RemovalRecord(node: node.rawValue, requestedAt: SystemWallClock().now())
            try await db.put(StoreKeys.removal(node), value: RecordCodec.encode(request), lease: nil)
            guard timeout > 0 else {
                print("removal of \(node) requested; the controller carries it out")
                return
            }
            let deadline = ContinuousClock.now + .seconds(timeout)
            while ContinuousClock.now < deadline {
                if try await db.get(StoreKeys.removal(node)) == nil, try await db.get(StoreKeys.peer(node)) == nil {
                    print("node \(node) removed")
                    return
                }
                try await Task.sleep(for: .milliseconds(200))
            }
            throw MeshError(.timeout, "the controller did not carry out the removal of \(node) within \(timeout)s; is a controller running? (`meshguard status` shows it)")
        }
    }
}

extension Array {
    func asyncContains(_ predicate: (Element) async throws -> Bool) async rethrows -> Bool {
        for element in self where try await predicate(element) { return true }
        return false
    }
}
