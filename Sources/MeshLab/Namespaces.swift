import Foundation
import Glibc
import MeshCore

/// One network namespace of a lab (the fabric, a node or a pod), plus the node's own mount
/// namespace where it has one.
public struct LabNamespace: Hashable, Sendable, CustomStringConvertible {
    /// The `ip netns` name, e.g. `mg1x2y3z-n1`.
    public let name: String
    /// The persistent mount-namespace file of a node (`/run/meshguard-lab/<id>/n1.mnt`); nil for
    /// the fabric and pods, whose commands see the host's mounts (unlike under `ip netns exec`,
    /// /sys is not remounted for them, so /sys/class/net there lists the host's interfaces).
    public let mountNamespacePath: String?

    /// The file to hand to `setns(2)` or `nsenter --net=`.
    public var path: String { Netns.path(name) }
    public var description: String { name }
}

/// Anything the lab can run a command in: a ``LabNamespace``, a ``LabNode`` or a ``LabPod``.
public protocol LabPlace: Sendable {
    var namespace: LabNamespace { get }
}

/// A place with an IPv4 address of its own, which a probe can send to: a node (its underlay
/// address) or a pod.
public protocol LabHost: LabPlace {
    var address: IPAddress { get }
}

extension LabNamespace: LabPlace {
    public var namespace: LabNamespace { self }
}

extension LabNamespace {
    /// The `nsenter` words that put a command into this namespace. A node's command enters its
    /// mount namespace too, so it sees the node's private /var/run/wireguard. nsenter opens
    /// both files before it enters either, so `/var/run/netns/...` is looked up in the host's
    /// mount namespace (inside a node that directory is detached; see ``NodeMounts``).
    /// Entering a mount namespace moves the working directory to its root; `--wd` puts it back
    /// to ours, so relative paths mean the same in a node as in a pod.
    func enter(_ nsenter: String) -> [String] {
        var words = [nsenter, "--net=\(path)"]
        if let mountNamespacePath {
            words += ["--mount=\(mountNamespacePath)", "--wd=\(FileManager.default.currentDirectoryPath)"]
        }
        return words + ["--"]
    }
}

/// Network namespaces as `ip netns` keeps them: a bind mount of the namespace file at
/// /var/run/netns/<name>.
enum Netns {
    static let directory = "/var/run/netns"

    static func path(_ name: String) -> String { "\(directory)/\(name)" }

    static func exists(_ name: String) -> Bool {
        var st = stat()
        return lstat(path(name), &st) == 0
    }

    static func names() -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
    }

    static func add(_ name: String, ip: String) throws(MeshError) {
        try Subprocess.run([ip, "netns", "add", name], timeout: LabTime.scaled(.seconds(10))).checked()
    }

    /// What `ip netns del` does, without a process per namespace: detach the bind mount, remove
    /// the file. Unlinking also detaches copies of the mount in other mount namespaces (Linux
    /// ≥ 3.18), so a node's mount namespace never pins a deleted network namespace. The
    /// namespace itself is freed once no process and no open descriptor holds it. Returns a
    /// problem, or nil when the namespace is gone (or never existed).
    static func delete(_ name: String) -> String? {
        let file = path(name)
        _ = umount2(file, Int32(MNT_DETACH))
        if unlink(file) != 0 && errno != ENOENT {
            return "cannot remove \(file): \(String(cString: strerror(errno)))"
        }
        return nil
    }

    /// The namespace's inode number, which is what /proc/<pid>/ns/* links name.
    static func inode(ofFile file: String) -> UInt64? {
        var st = stat()
        guard stat(file, &st) == 0 else { return nil }
        return UInt64(st.st_ino)
    }

    /// Runs `body` on a fresh thread that has entered the network namespace at `path`, and
    /// waits for it. Sockets created there stay in that namespace for their whole life, and
    /// /proc/sys/net shows that namespace's settings to that thread. A thread of its own,
    /// rather than setns there and back on the caller's thread: the caller may be a Swift
    /// concurrency thread that other tasks will run on, and a failed switch back would leave it
    /// in the wrong namespace. The thread simply ends.
    static func onThread<R: Sendable>(in path: String,
                                      _ body: @escaping @Sendable () throws(MeshError) -> R) throws(MeshError) -> R {
        let result = Locked<Result<R, MeshError>?>(nil)
        let done = DispatchSemaphore(value: 0)
        let thread = Thread {
            defer { done.signal() }
            let fd = open(path, O_RDONLY | O_CLOEXEC)
            guard fd >= 0 else {
                let error = Subprocess.errnoError("cannot open network namespace \(path)", code: .notFound)
                result.withLock { $0 = .failure(error) }
                return
            }
            defer { close(fd) }
            // CLONE_NEWNET; glibc hides the name behind _GNU_SOURCE.
            guard let setns = GNU.setns else {
                result.withLock { $0 = .failure(MeshError(.unsupported, "this C library has no setns(2)")) }
                return
            }
            guard setns(fd, 0x4000_0000) == 0 else {
                let error = Subprocess.errnoError("setns(\(path))")
                result.withLock { $0 = .failure(error) }
                return
            }
            let outcome: Result<R, MeshError>
            do throws(MeshError) { outcome = .success(try body()) } catch { outcome = .failure(error) }
            result.withLock { $0 = outcome }
        }
        thread.start()
        done.wait()
        return try result.current!.get()
    }

    /// Writes sysctls under /proc/sys in the namespace at `path`. A key whose file does not
    /// exist is skipped when it is optional (IPv6 keys on a kernel booted with ipv6.disable=1).
    static func writeSysctls(_ settings: [(key: String, value: String, optional: Bool)], in path: String) throws(MeshError) {
        try onThread(in: path) { () throws(MeshError) in
            for setting in settings {
                let file = "/proc/sys/" + setting.key.replacingOccurrences(of: ".", with: "/")
                let fd = open(file, O_WRONLY | O_CLOEXEC)
                if fd < 0 {
                    if setting.optional && errno == ENOENT { continue }
                    throw Subprocess.errnoError("cannot open \(file)")
                }
                let text = Array((setting.value + "\n").utf8)
                let n = text.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
                guard n == text.count else { throw Subprocess.errnoError("cannot write \(setting.key)=\(setting.value)") }
            }
        }
    }
}

/// Finding every process inside a set of namespaces, whoever started it (a wireguard-go that
/// daemonized itself, a shell's background job). Equivalent to `ip netns pids`, for network and
/// mount namespaces in one pass over /proc.
enum ProcessScan {
    /// Pids, other than this process, whose network or mount namespace inode is in `inodes`.
    /// Zombies have no namespaces any more and are not listed.
    static func pids(inNamespaces inodes: Set<UInt64>) -> [pid_t] {
        guard !inodes.isEmpty, let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else {
            return []
        }
        let me = getpid()
        var found: [pid_t] = []
        for entry in entries {
            guard let pid = pid_t(entry), pid != me else { continue }
            for kind in ["net", "mnt"] {
                if let inode = namespaceInode(pid: pid, kind: kind), inodes.contains(inode) {
                    found.append(pid)
                    break
                }
            }
        }
        return found
    }

    /// Parses the `net:[4026532177]` that /proc/<pid>/ns/<kind> points to.
    static func namespaceInode(pid: pid_t, kind: String) -> UInt64? {
        var buffer = [CChar](repeating: 0, count: 64)
        let n = readlink("/proc/\(pid)/ns/\(kind)", &buffer, buffer.count - 1)
        guard n > 0 else { return nil }
        let text = String(decoding: buffer[0..<n].map { UInt8(bitPattern: $0) }, as: UTF8.self)
        guard let open = text.firstIndex(of: "["), let close = text.firstIndex(of: "]"), open < close else { return nil }
        return UInt64(text[text.index(after: open)..<close])
    }

    /// SIGKILLs everything in the namespaces until nothing is left (or 5 s pass). Returns the
    /// pids that would not go.
    static func killAll(inNamespaces inodes: Set<UInt64>) -> [pid_t] {
        let deadline = ContinuousClock.now + LabTime.scaled(.seconds(5))
        while true {
            let pids = pids(inNamespaces: inodes)
            if pids.isEmpty || ContinuousClock.now >= deadline { return pids }
            for pid in pids { kill(pid, SIGKILL) }
            usleep(10_000)
        }
    }
}

/// Each node's persistent mount namespace, which gives it a private /var/run/wireguard.
///
/// wireguard-go puts its UAPI socket at /var/run/wireguard/<interface>.sock, a path shared by the
/// whole machine, and every lab node uses the same interface name, as real nodes do. So each
/// node gets its own mount namespace with a tmpfs there. It must outlive any one process (an
/// agent restarted later must find the socket of the wireguard-go started earlier), so it is
/// kept alive by a file, the way `ip netns` keeps network namespaces:
///
/// 1. `/run/meshguard-lab/<id>` is bind-mounted on itself and made private. `unshare --mount=FILE`
///    binds the new namespace onto FILE, and the kernel refuses that (or would propagate the bind
///    into the new namespace itself, a loop) unless FILE's mount is private. On a systemd host
///    `/` is shared, so the bind is needed there even if a container's root happens to be private.
/// 2. `nsenter --net=<node netns> unshare --mount=<dir>/n1.mnt --propagation private sh -c SCRIPT`:
///    unshare makes a mount namespace whose mounts are all private (nothing mounted inside leaks
///    to the host, nothing the host mounts later appears inside) and binds it onto n1.mnt; the
///    script runs inside it and
///    - mounts a tmpfs on /var/run/wireguard (the host directory is created if missing and left
///      in place: it is wireguard-go's usual directory, possibly used by others);
///    - remounts /sys from inside the node's network namespace, as `ip netns exec` does, so
///      /sys/class/net lists the node's interfaces;
///    - lazily detaches its copies of /run/netns and of every /run/meshguard-lab/<lab> mount. A
///      new mount namespace starts as a copy of the host's, so it would hold a reference to every
///      network namespace and every lab node's mount namespace that exists at that moment,
///      including other labs' and other users'. Unlinking those files detaches such copies anyway;
///      detaching them here keeps the references from existing at all.
/// 3. A process enters with `nsenter --net=/var/run/netns/<node> --mount=<dir>/n1.mnt`; the
///    namespace lives on when the script and every later process are gone.
/// 4. Teardown: kill every process inside, detach and remove each .mnt file (the namespace and its
///    tmpfs are then freed), detach and remove the directory.
enum NodeMounts {
    static let root = "/run/meshguard-lab"

    static func directory(id: String) -> String { "\(root)/\(id)" }
    static func file(id: String, node: Int) -> String { "\(directory(id: id))/n\(node).mnt" }

    /// Step 1. Fails with `.alreadyExists` when the directory is there (a crashed run: use
    /// ``Lab/destroyLeftovers(id:)``).
    static func prepare(directory: String) throws(MeshError) {
        if mkdir(root, 0o755) != 0 && errno != EEXIST { throw Subprocess.errnoError("mkdir \(root)") }
        guard mkdir(directory, 0o700) == 0 else {
            if errno == EEXIST {
                throw MeshError(.alreadyExists, "\(directory) exists: a lab with this id is running or crashed")
            }
            throw Subprocess.errnoError("mkdir \(directory)")
        }
        guard mount(directory, directory, nil, UInt(MS_BIND), nil) == 0 else {
            let error = Subprocess.errnoError("bind-mount \(directory)")
            rmdir(directory)
            throw error
        }
        guard mount(nil, directory, nil, UInt(MS_PRIVATE), nil) == 0 else {
            let error = Subprocess.errnoError("make \(directory) private")
            umount2(directory, Int32(MNT_DETACH))
            rmdir(directory)
            throw error
        }
    }

    /// Step 2, for one node.
    static func create(file: String, netnsPath: String, tools: ToolPaths) throws(MeshError) {
        let fd = open(file, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Subprocess.errnoError("create \(file)") }
        close(fd)
        let script = """
            set -e
            mkdir -p /var/run/wireguard
            mount -t tmpfs -o mode=0755,size=4m meshguard-wg /var/run/wireguard
            umount -l /sys 2>/dev/null || true
            mount -t sysfs sysfs /sys
            for m in "$@"; do while umount -l "$m" 2>/dev/null; do :; done; done
            """
        let detach = hostMountPoints().filter { $0 == "/run/netns" || $0.hasPrefix(root + "/") }
        let argv = [tools.nsenter, "--net=\(netnsPath)", "--", tools.unshare, "--mount=\(file)",
                    "--propagation", "private", "--", tools.sh, "-c", script, "sh"] + Array(Set(detach)).sorted()
        try Subprocess.run(argv, timeout: LabTime.scaled(.seconds(15))).checked()
    }

    /// Step 4 for one directory; also used on a crashed run's leftovers. Returns problems.
    static func remove(directory: String) -> [String] {
        var problems: [String] = []
        let entries = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        for entry in entries {
            let file = "\(directory)/\(entry)"
            _ = umount2(file, Int32(MNT_DETACH))
            if unlink(file) != 0 && errno != ENOENT {
                problems.append("cannot remove \(file): \(String(cString: strerror(errno)))")
            }
        }
        // Repeat: a crashed run may have left the directory bound more than once.
        while umount2(directory, Int32(MNT_DETACH)) == 0 {}
        if rmdir(directory) != 0 && errno != ENOENT {
            problems.append("cannot remove \(directory): \(String(cString: strerror(errno)))")
        }
        return problems
    }

    /// Inode of a node's mount namespace, for finding processes inside it.
    static func inode(ofFile file: String) -> UInt64? { Netns.inode(ofFile: file) }

    /// Mount points in this process's mount namespace, from /proc/self/mountinfo.
    static func hostMountPoints() -> [String] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            return fields.count > 4 ? unescape(fields[4]) : nil
        }
    }

    /// mountinfo writes space, tab, newline and backslash as \ooo octal.
    private static func unescape(_ field: Substring) -> String {
        guard field.contains("\\") else { return String(field) }
        var bytes: [UInt8] = []
        let utf8 = Array(field.utf8)
        var i = 0
        while i < utf8.count {
            if utf8[i] == UInt8(ascii: "\\"), i + 3 < utf8.count,
               let value = UInt8(String(decoding: utf8[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                bytes.append(value)
                i += 4
            } else {
                bytes.append(utf8[i])
                i += 1
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }
}
