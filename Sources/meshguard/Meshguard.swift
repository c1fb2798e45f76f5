import ArgumentParser
import Foundation
import MeshCore

/// The `meshguard` command: the composition root. It is the only place that picks concrete
/// adapters (SQLite, wireguard-go, rtnetlink, libsodium) and hands them to the loops.
struct Meshguard: AsyncParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "meshguard",
        abstract: "WireGuard mesh encryption for Kubernetes pod-to-pod traffic.",
        version: version,
        subcommands: [
            AgentCommand.self, ControllerCommand.self, EnableCommand.self, DisableCommand.self, StatusCommand.self,
            NodeCommand.self, DemoCommand.self, DatastoreCommand.self,
        ]
    )
}

@main
enum Main {
    static func main() async {
        do {
            var command = try Meshguard.parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            // Argument errors exit 2, as most Unix tools do (ArgumentParser's default is 64).
            if Meshguard.exitCode(for: error) == .validationFailure {
                FileHandle.standardError.write(Data((Meshguard.fullMessage(for: error) + "\n").utf8))
                exit(2)
            }
            if let error = error as? MeshError {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                exit(error.code == .invalidArgument ? 2 : 1)
            }
            Meshguard.exit(withError: error)
        }
    }
}
