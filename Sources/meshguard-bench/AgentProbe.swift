import Foundation

/// Looks at the agent's data plane from inside its namespace, with wg(8) and ip(8).
struct AgentProbe {
    let namespace: BenchNamespace
    let device: String
    let agent: AgentProcess

    /// Peers on the device (0 while it does not exist).
    func peerCount() -> Int {
        let arguments = namespace.exec(["wg", "show", device, "peers"])
        guard let (status, text) = try? runCapturing(arguments), status == 0 else { return 0 }
        return text.split(separator: "\n").count
    }

    /// The allowed IPs of the peer with this public key, as wg prints them ("(none)" for none).
    func allowedIPs(of publicKey: String) -> String? {
        let arguments = namespace.exec(["wg", "show", device, "allowed-ips"])
        guard let (status, text) = try? runCapturing(arguments), status == 0 else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(publicKey) {
            return line.dropFirst(publicKey.count).trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Routes through the device in the agent's table.
    func routeCount() -> Int {
        let arguments = ["ip", "-n", namespace.name, "route", "show", "table", AgentBenchmark.table]
        guard let (status, text) = try? runCapturing(arguments), status == 0 else { return 0 }
        return text.split(separator: "\n").filter(isThroughDevice).count
    }

    /// Whether the agent's table routes `prefix` through the device.
    func hasRoute(to prefix: String) -> Bool {
        let arguments = ["ip", "-n", namespace.name, "route", "show", "table", AgentBenchmark.table, prefix]
        guard let (status, text) = try? runCapturing(arguments), status == 0 else { return false }
        return text.split(separator: "\n").contains(where: isThroughDevice)
    }

    /// Whether a line of `ip route show` names the device as the route's device.
    private func isThroughDevice(_ line: Substring) -> Bool {
        let words = line.split(separator: " ")
        return zip(words, words.dropFirst()).contains { $0 == "dev" && $1 == device }
    }

    /// Polls `condition` every `interval`; returns when it first held. Fails when the agent exits.
    func wait(_ what: String, timeout: Duration, every interval: Duration = .milliseconds(50),
              _ condition: () -> Bool) async throws -> ContinuousClock.Instant {
        let deadline = ContinuousClock.now + timeout
        while true {
            if condition() { return .now }
            guard agent.isRunning else { throw BenchError("the agent exited while waiting for \(what)") }
            guard ContinuousClock.now < deadline else { throw BenchError("timed out after \(timeout) waiting for \(what)") }
            try await Task.sleep(for: interval)
        }
    }

    /// Waits (at most 20 s) until the agent has used under a fifth of a core for a second: its
    /// busy work is over (idle, it still polls the store and writes its status).
    func settle() async throws {
        let pid = String(agent.pid)
        let deadline = ContinuousClock.now + .seconds(20)
        var last = cpuTime(pid: pid)
        while ContinuousClock.now < deadline {
            try await Task.sleep(for: .seconds(1))
            let now = cpuTime(pid: pid)
            if let last, let now, now - last < .milliseconds(200) { return }
            last = now
        }
    }
}
