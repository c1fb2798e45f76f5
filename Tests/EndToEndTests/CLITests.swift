import Foundation
import MeshTestKit
import Testing

/// The command line as users meet it: argument errors exit 2 and name the bad argument.
@Suite struct CommandLine {
    struct Run {
        let status: Int32
        let stdout: String
        let stderr: String
    }

    func meshguard(_ arguments: [String], environment: [String: String] = [:]) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: try meshguardBinary())
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let stdout = out.fileHandleForReading.readDataToEndOfFile()
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
                   stderr: String(decoding: stderr, as: UTF8.self))
    }

    static let argumentErrors: [([String], String)] = [
        (["agent", "--node", "n1", "--address", "10.0.0.300", "--pod-cidr", "10.244.1.0/24"], "'10.0.0.300' is not an IPv4 or IPv6 address"),
        (["agent", "--node", "N_1", "--address", "10.0.0.1", "--pod-cidr", "10.244.1.0/24"], "node name 'N_1'"),
        (["agent", "--node", "n1", "--address", "10.0.0.1", "--pod-cidr", "10.244.1.7/24"], "10.244.1.7/24 has host bits set"),
        (["agent", "--node", "n1", "--address", "10.0.0.1"], "--pod-cidr is required"),
        (["agent", "--node", "n1", "--address", "10.0.0.1", "--pod-cidr", "10.244.1.0/24", "--interface", "much-too-long-name0"], "--interface"),
        (["agent", "--node", "n1", "--address", "10.0.0.1", "--pod-cidr", "10.244.1.0/24", "--fwmark", "banana"], "--fwmark 'banana'"),
        (["agent", "--node", "n1", "--address", "10.0.0.1", "--pod-cidr", "10.244.1.0/24", "--table", "254"], "--table 254 is reserved"),
        (["agent", "--node", "n1", "--address", "10.0.0.1", "--pod-cidr", "10.244.1.0/24", "--resync-interval", "soon"], "--resync-interval 'soon'"),
        (["agent", "--node", "n1", "--address", "10.0.0.1", "--pod-cidr", "10.244.1.0/24", "--wireguard-backend", "magic"], "--wireguard-backend 'magic'"),
        (["controller"], "--pod-cidr-pool is required"),
        (["controller", "--pod-cidr-pool", "0.0.0.0/0"], "whole address space"),
        (["status", "--datastore", "postgres://db"], "unknown scheme 'postgres'"),
        (["status", "--datastore", "sqlite://relative.db"], "three slashes"),
        (["status", "-o", "yaml"], "yaml"),
        (["enable", "--mtu", "100"], "--mtu 100 is out of range"),
        (["node", "remove", "Bad/Name"], "node name 'Bad/Name'"),
        (["demo", "--nodes", "1"], "--nodes 1 must be 2-20"),
        (["frobnicate"], "frobnicate"),
    ]

    @Test(arguments: argumentErrors)
    func argumentErrorsExit2NamingTheArgument(arguments: [String], message: String) throws {
        let run = try meshguard(arguments)
        #expect(run.status == 2, "\(arguments): \(run.stderr)")
        #expect(run.stderr.contains(message), "\(arguments): \(run.stderr)")
    }

    @Test func missingDatastoreIsAClearError() throws {
        let run = try meshguard(["status", "--datastore", "sqlite:///nonexistent-dir-\(getpid())/meshguard.db"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("does not exist"), "\(run.stderr)")
    }

    @Test func datastoreFromTheEnvironment() throws {
        let run = try meshguard(["status"], environment: ["MESHGUARD_DATASTORE": "sqlite:///nonexistent-env-\(getpid())/x.db"])
        #expect(run.stderr.contains("nonexistent-env-"), "\(run.stderr)")
    }

    @Test func helpListsTheCommands() throws {
        let run = try meshguard(["--help"])
        #expect(run.status == 0)
        for command in ["agent", "controller", "enable", "disable", "status", "node", "demo"] {
            #expect(run.stdout.contains("  \(command)"), "\(command) missing from --help")
        }
    }

    @Test func demoRefusesWithoutRoot() throws {
        // As root (CI), drop to nobody with setpriv to see what a normal user sees.
        let arguments = TestNamespace.isRoot
            ? ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", try meshguardBinary(), "demo"]
            : [try meshguardBinary(), "demo"]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 1, "\(stderr)")
        #expect(stderr.contains("meshguard demo needs root"), "\(stderr)")
    }

    @Test(.enabled(if: TestNamespace.isRoot && !kernelHasWireGuard,
                   "needs root to get past the demo's root check, and a kernel without WireGuard; CI's host has none"))
    func demoWithoutWireGuardSaysSo() throws {
        // No wireguard-go on PATH, and no WireGuard in this kernel.
        let run = try meshguard(["demo"], environment: ["PATH": "/nonexistent"])
        #expect(run.status == 1)
        #expect(run.stderr.contains("neither kernel WireGuard nor wireguard-go"), "\(run.stderr)")
        #expect(run.stderr.contains("apt-get install wireguard-go") && run.stderr.contains("wireguard kernel module"))
    }
}
