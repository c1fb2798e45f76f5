import Foundation

/// A network namespace created for one test and deleted afterwards (`ip netns add/del`).
/// Names are unique per process and call, so tests running in parallel never collide.
public final class TestNamespace: Sendable {
    public let name: String

    /// Whether this process may create namespaces (root). Tests that need it are skipped with
    /// this reason otherwise; CI runs as root and skips none.
    public static var isRoot: Bool { geteuid() == 0 }

    /// Creates `mgt-<prefix>-<pid>-<n>` with loopback up.
    public init(_ prefix: String) throws {
        name = "mgt-\(prefix)-\(getpid())-\(Self.counter.next())"
        try Self.run(["ip", "netns", "add", name])
        try Self.run(["ip", "-n", name, "link", "set", "lo", "up"])
    }

    /// The path to hand to `setns(2)`.
    public var path: String { "/var/run/netns/\(name)" }

    /// Runs a command inside the namespace; throws with its output when it exits non-zero.
    @discardableResult
    public func run(_ arguments: [String]) throws -> String {
        try Self.run(["ip", "netns", "exec", name] + arguments)
    }

    /// Deletes the namespace (and with it every interface inside). Safe to call twice.
    public func destroy() {
        _ = try? Self.run(["ip", "netns", "del", name])
    }

    deinit { destroy() }

    /// Runs a program (looked up in PATH) and returns its standard output.
    @discardableResult
    public static func run(_ arguments: [String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let stdout = String(decoding: outData, as: UTF8.self)
        guard process.terminationStatus == 0 else {
            throw TestCommandError(arguments: arguments, status: process.terminationStatus,
                                   output: stdout + String(decoding: errData, as: UTF8.self))
        }
        return stdout
    }

    /// Whether `program` is on PATH.
    public static func commandExists(_ program: String) -> Bool {
        (try? run(["sh", "-c", "command -v \(program)"])) != nil
    }

    private static let counter = Counter()
}

public struct TestCommandError: Error, CustomStringConvertible {
    public let arguments: [String]
    public let status: Int32
    public let output: String
    public var description: String { "`\(arguments.joined(separator: " "))` exited \(status): \(output)" }
}

final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    func next() -> Int {
        lock.lock()
        defer { lock.unlock() }
        value += 1
        return value
    }
}
