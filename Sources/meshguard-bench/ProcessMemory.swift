import Foundation

/// A `Vm…` line of /proc/<pid>/status, in kB.
func memoryKB(_ field: String, pid: String = "self") -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
    }
    return nil
}

/// The pid of the daemon serving `device`: its command line is `<path>/wireguard-go <device>`.
func wireGuardGoPID(for device: String) -> String? {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for pid in entries where Int(pid) != nil {
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { continue }
        let argv = data.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }
        if argv.count == 2, argv[0].hasSuffix("wireguard-go"), argv[1] == device { return pid }
    }
    return nil
}

