import Foundation

/// A `Vm…` line of /proc/<pid>/status, in kB.
func memoryKB(_ field: String, pid: String = "self") -> Int? {
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
    for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
        return Int(line.dropFirst(field.count + 1).trimmingCharacters(in: .whitespaces).split(separator: " ")[0])
    }
    return nil
}

func mebibytes(kB: Int?) -> String {
    kB.map { String(format: "%.1f MiB", Double($0) / 1024) } ?? "n/a"
}

/// CPU time the process has used, user plus system (utime + stime of /proc/<pid>/stat).
func cpuTime(pid: String) -> Duration? {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
          let close = stat.lastIndex(of: ")") else { return nil }
    // After "pid (comm)": field 3 (state) is index 0, so utime (14) and stime (15) are 11 and 12.
    let fields = stat[stat.index(after: close)...].split(separator: " ")
    guard fields.count > 12, let user = Int64(fields[11]), let system = Int64(fields[12]) else { return nil }
    let ticks = Int64(sysconf(Int32(_SC_CLK_TCK)))
    return .milliseconds((user + system) * 1000 / max(ticks, 1))
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
