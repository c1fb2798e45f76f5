import Foundation
import Glibc
import MeshCore
@testable import MeshLab
import MeshTestKit
import Testing

/// Checks on the machine itself (not on the Lab object) that a lab is entirely gone.
enum Leftovers {
    /// Everything of lab `id` still on the machine, as readable lines; empty when it is gone.
    static func of(id: String, pids: [pid_t] = [], sourceLocation: SourceLocation = #_sourceLocation) -> [String] {
        var found: [String] = []
        let list = (try? TestNamespace.run(["ip", "netns", "list"])) ?? "ip netns list failed"
        for line in list.split(separator: "\n") {
            let name = String(line.split(separator: " ").first ?? "")
            if Lab.isLabNamespace(name, id: id) { found.append("namespace \(name)") }
        }
        let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
        for line in mounts.split(separator: "\n") where line.contains("/run/meshguard-lab/\(id)") {
            found.append("mount \(line)")
        }
        for path in ["/run/meshguard-lab/\(id)", Lab.workDirectory(id: id)] where FileManager.default.fileExists(atPath: path) {
            found.append("path \(path)")
        }
        for pid in pids where isAlive(pid) { found.append("process \(pid)") }
        return found
    }

    /// Running (a zombie waiting for its parent to reap it has no namespaces and counts as gone).
    static func isAlive(_ pid: pid_t) -> Bool {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
              let close = stat.lastIndex(of: ")") else { return false }
        let state = stat[stat.index(close, offsetBy: 2)]
        return state != "Z" && state != "X"
    }
}

/// A fresh id per test, so a run never meets a previous run's (possibly crashed) lab.
func testID() -> String { LabSpec.uniqueID(prefix: "t") }
