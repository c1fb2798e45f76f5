import Foundation
import Glibc
import MeshCore

/// A long-running process the lab started inside a namespace (see ``Lab/spawn(in:_:environment:logFile:)``).
///
/// The process leads its own process group (pgid == pid). Its standard output and error are
/// appended to ``logFile``; standard input is /dev/null. Only this object reaps it, so ``pid``
/// cannot be recycled while the object reports the process running, and a signal never reaches
/// some other process that got the same pid later.
public final class LabProcess: Sendable, CustomStringConvertible {
    public let pid: pid_t
    /// The command as the caller gave it (without the nsenter prefix).
    public let arguments: [String]
    public let namespace: LabNamespace
    public let logFile: String
    private let exit = Locked<Termination?>(nil)

    init(pid: pid_t, arguments: [String], namespace: LabNamespace, logFile: String) {
        self.pid = pid
        self.arguments = arguments
        self.namespace = namespace
        self.logFile = logFile
    }

    /// Nil while the process runs.
    public var termination: Termination? {
        exit.withLock { status in
            if status == nil { status = Subprocess.reap(pid, block: false) }
            return status
        }
    }

    public var isRunning: Bool { termination == nil }

    /// Sends `signal` to the process, or with `toGroup` to its whole process group (children that
    /// stayed in it too). Does nothing once the process has exited: its pid may belong to
    /// someone else by then.
    public func signal(_ signal: Int32, toGroup: Bool = false) {
        exit.withLock { status in
            if status == nil { status = Subprocess.reap(pid, block: false) }
            // Still unreaped here, so the pid (and the group id) are still ours.
            if status == nil { Glibc.kill(toGroup ? -pid : pid, signal) }
        }
    }

    /// Waits up to `timeout` for the process to exit. Returns its status, or nil when it is still
    /// running at the deadline (not an error). Blocks the calling thread, polling every 10 ms.
    @discardableResult
    public func wait(timeout: Duration) -> Termination? {
        let deadline = ContinuousClock.now + timeout
        while true {
            if let status = termination { return status }
            if ContinuousClock.now >= deadline { return nil }
            usleep(10_000)
        }
    }

    /// The log file's contents so far ("" when it cannot be read), for failure messages.
    public func log() -> String {
        guard let data = FileManager.default.contents(atPath: logFile) else { return "" }
        return String(decoding: data, as: UTF8.self)
    }

    /// SIGKILLs the whole group and reaps the leader. Teardown's first step.
    func kill() {
        signal(SIGKILL, toGroup: true)
        exit.withLock { status in
            if status == nil { status = Subprocess.reap(pid, block: true) }
        }
    }

    public var description: String {
        "pid \(pid) in \(namespace): \(arguments.joined(separator: " "))"
    }
}
