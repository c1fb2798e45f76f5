import Foundation
import Glibc
import MeshCore

/// A running tcpdump on the fabric's bridge (see ``Lab/startCapture(filter:)``).
public final class Capture: Sendable {
    /// The pcap file tcpdump writes, in the lab's work directory (removed with the lab).
    public let path: String
    /// The BPF filter, if any.
    public let filter: String?
    /// tcpdump itself; its log holds its messages and final statistics.
    public let process: LabProcess
    private let outcome = Locked<Result<[CapturedFrame], MeshError>?>(nil)

    init(path: String, filter: String?, process: LabProcess) {
        self.path = path
        self.filter = filter
        self.process = process
    }

    /// Stops the capture and returns every frame it saw. Calling it again returns the same
    /// result.
    ///
    /// Waits `settle` first, so frames still crossing the bridge are seen, then SIGINTs
    /// tcpdump, which writes out what it holds and its statistics, and parses the file.
    /// Errors: `.backendFailure` when tcpdump reports packets dropped by the kernel (a capture
    /// with holes cannot prove that something was absent) or did not exit cleanly; the
    /// ``Pcap/parse(_:)`` errors when the file is damaged; `.backendFailure` too after the lab
    /// was destroyed, which kills tcpdump and removes the file.
    public func stop(settle: Duration = LabTime.scaled(.milliseconds(200))) throws(MeshError) -> [CapturedFrame] {
        if let done = outcome.current { return try done.get() }
        let result: Result<[CapturedFrame], MeshError>
        do { result = .success(try finish(settle: settle)) } catch { result = .failure(error) }
        return try outcome.withLock { stored in
            if stored == nil { stored = result }
            return stored!
        }.get()
    }

    private func finish(settle: Duration) throws(MeshError) -> [CapturedFrame] {
        if process.isRunning {
            usleep(UInt32(settle.components.seconds * 1_000_000 + settle.components.attoseconds / 1_000_000_000_000))
        }
        process.signal(SIGINT)
        var status = process.wait(timeout: LabTime.scaled(.seconds(5)))
        if status == nil {
            process.signal(SIGKILL, toGroup: true)
            status = process.wait(timeout: LabTime.scaled(.seconds(5)))
        }
        let log = process.log()
        guard status == .exited(0) || status == .signalled(SIGINT) else {
            throw MeshError(.backendFailure, "tcpdump on the fabric ended badly (\(status.map(\.description) ?? "still running")): \(log)")
        }
        if let dropped = Self.droppedByKernel(log), dropped > 0 {
            throw MeshError(.backendFailure, "the capture is incomplete: tcpdump reports \(dropped) packets dropped by kernel")
        }
        return try Pcap.read(path: path)
    }

    /// From tcpdump's closing "N packets dropped by kernel".
    static func droppedByKernel(_ log: String) -> Int? {
        for line in log.split(separator: "\n") where line.hasSuffix("packets dropped by kernel") {
            return line.split(separator: " ").first.flatMap { Int($0) }
        }
        return nil
    }
}

extension Lab {
    /// Starts tcpdump in the fabric namespace on `br0`, which sees every frame between nodes
    /// (a bridge in promiscuous mode passes bridged frames to its own device too) and the
    /// fabric's own traffic, e.g. to a datastore on ``fabricAddress``: exclude that with a
    /// filter such as `"not host 192.168.77.1"`. Returns once tcpdump is listening, so traffic
    /// sent after this call is in the capture.
    ///
    /// Runs `tcpdump -i br0 -w FILE -U -n -s 262144 --immediate-mode -Z root [filter]`:
    /// -U writes each packet out as it comes, -Z root keeps tcpdump from switching to the
    /// `tcpdump` user, which could not write into the lab's work directory.
    ///
    /// Errors: `.backendFailure` when tcpdump exits at once (a bad filter: its message is in
    /// the error) or is not listening within `readyTimeout`; `.unavailable` after ``destroy()``.
    public func startCapture(filter: String? = nil, readyTimeout: Duration = LabTime.scaled(.seconds(5))) throws(MeshError) -> Capture {
        let serial = nextSerial()
        let path = "\(workDirectory)/capture-\(serial).pcap"
        let logFile = "\(workDirectory)/capture-\(serial).log"
        let argv = [tools.tcpdump, "-i", "br0", "-w", path, "-U", "-n", "-s", "262144", "--immediate-mode", "-Z", "root"]
            + (filter.map { [$0] } ?? [])
        let process = try spawn(in: fabric, argv, logFile: logFile)
        let deadline = ContinuousClock.now + readyTimeout
        while !process.log().contains("listening on") {
            if !process.isRunning {
                throw MeshError(.backendFailure, "tcpdump on the fabric \(process.termination!): \(process.log())")
            }
            if ContinuousClock.now >= deadline {
                process.kill()
                throw MeshError(.backendFailure, "tcpdump on the fabric is not listening after \(readyTimeout): \(process.log())")
            }
            usleep(5_000)
        }
        return Capture(path: path, filter: filter, process: process)
    }
}
