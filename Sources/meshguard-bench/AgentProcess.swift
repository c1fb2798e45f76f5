import Foundation

/// A `meshguard agent` started by the benchmark (inside a namespace through `ip netns exec`,
/// which execs the agent in place, so the pid is the agent's), its output going to a log file.
final class AgentProcess {
    let pid: pid_t
    let logPath: String
    private let process: Process

    init(arguments: [String], logPath: String) throws {
        guard FileManager.default.createFile(atPath: logPath, contents: nil, attributes: [.posixPermissions: 0o600]),
              let log = FileHandle(forWritingAtPath: logPath) else { throw BenchError("cannot create \(logPath)") }
        defer { try? log.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = log
        process.standardError = log
        try process.run()
        self.process = process
        self.pid = process.processIdentifier
        self.logPath = logPath
    }

    var isRunning: Bool { process.isRunning }

    /// Kills the process if the benchmark is interrupted before `stop()`: a controller left
    /// behind keeps retrying its vanished datastore and takes CPU from every later run.
    func killOnInterrupt() -> Cleanup.Token {
        let pid = self.pid
        return Cleanup.shared.register { kill(pid, SIGKILL) }
    }

    /// Whether the process runs `executable` now (checks that the launchers exec'd into it, so
    /// that `pid` is the agent's own).
    func runs(_ executable: String) -> Bool {
        guard let resolved = realpath(executable, nil) else { return false }
        defer { free(resolved) }
        return (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/exe")) == String(cString: resolved)
    }

    /// The last lines of the agent's log, for error messages.
    func logTail(lines: Int = 20) -> String {
        let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").suffix(lines).joined(separator: "\n")
    }

    /// SIGTERM, then SIGKILL if it has not exited within `grace`. Returns how it ended.
    @discardableResult
    func stop(grace: Duration = .seconds(15)) -> String {
        if process.isRunning { kill(pid, SIGTERM) }
        let deadline = ContinuousClock.now + grace
        while process.isRunning && ContinuousClock.now < deadline { Thread.sleep(forTimeInterval: 0.05) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return "killed after \(grace) (did not stop on SIGTERM)"
        }
        process.waitUntilExit()
        return process.terminationReason == .exit ? "exited \(process.terminationStatus)" : "signal \(process.terminationStatus)"
    }
}
