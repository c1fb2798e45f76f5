import CLibMNL
import Glibc

/// Runs `body` with the calling thread switched into the network namespace at `path`
/// (e.g. `/var/run/netns/<name>`), and switches the thread back before returning.
///
/// Safe on a thread of Swift's concurrency pool because `body` is synchronous: no suspension
/// point means no other task can run on this thread while it is in the other namespace.
/// `setns(2)` with `CLONE_NEWNET` affects only the calling thread, and a socket stays in the
/// namespace it was created in for its whole life, so a socket opened in `body` keeps talking
/// to that namespace from whatever thread later uses it.
///
/// - Throws: `.systemCallFailed` when a namespace file cannot be opened (`ENOENT`: no such
///   namespace) or entered (`EPERM`: needs `CAP_SYS_ADMIN`); `body`'s errors unchanged.
///   Failing to switch *back* is not thrown: it would leave a pool thread in a foreign
///   namespace for unrelated work, so it stops the process.
func withNetworkNamespace<R>(_ path: String, _ body: () throws(NetlinkError) -> R) throws(NetlinkError) -> R {
    let original = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC)
    guard original >= 0 else {
        throw NetlinkError(.systemCallFailed, "open /proc/thread-self/ns/net", errno: .current)
    }
    defer { close(original) }
    let target = open(path, O_RDONLY | O_CLOEXEC)
    guard target >= 0 else {
        throw NetlinkError(.systemCallFailed, "open network namespace \(path)", errno: .current)
    }
    defer { close(target) }
    guard cmnl_setns_net(target) == 0 else {
        throw NetlinkError(.systemCallFailed, "setns into network namespace \(path)", errno: .current)
    }
    defer {
        if cmnl_setns_net(original) != 0 {
            fatalError("cannot return this thread to its network namespace after \(path): \(Errno.current)")
        }
    }
    return try body()
}
