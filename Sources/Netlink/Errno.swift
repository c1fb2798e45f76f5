import Glibc

/// A positive `errno` value, from a system call or from the kernel's netlink reply.
///
/// Only the values the netlink layer and its callers tell apart are named; any other value
/// still round-trips through ``rawValue`` and prints with `strerror(3)`.
public struct Errno: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public let rawValue: Int32
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `EPERM`: the caller lacks `CAP_NET_ADMIN` (or `CAP_SYS_ADMIN` for `setns`).
    public static let notPermitted = Errno(rawValue: EPERM)
    /// `ENOENT`: no such file (a namespace path), rule, or generic netlink family.
    public static let noSuchFileOrDirectory = Errno(rawValue: ENOENT)
    /// `ESRCH`: no such route (or routing table).
    public static let noSuchProcess = Errno(rawValue: ESRCH)
    /// `EINTR`: a system call was interrupted by a signal.
    public static let interrupted = Errno(rawValue: EINTR)
    /// `EBADF`: a closed or invalid descriptor — always a bug in this process.
    public static let badFileDescriptor = Errno(rawValue: EBADF)
    /// `EAGAIN`: the receive timeout passed.
    public static let wouldBlock = Errno(rawValue: EAGAIN)
    /// `EACCES`.
    public static let permissionDenied = Errno(rawValue: EACCES)
    /// `EFAULT`: a bad pointer was handed to the kernel — always a bug in this process.
    public static let badAddress = Errno(rawValue: EFAULT)
    /// `EBUSY`.
    public static let busy = Errno(rawValue: EBUSY)
    /// `EEXIST`: the object to create is already there.
    public static let exists = Errno(rawValue: EEXIST)
    /// `ENODEV`: no network device with that name or index.
    public static let noSuchDevice = Errno(rawValue: ENODEV)
    /// `EINVAL`: the kernel rejected a value (an MTU out of range, a malformed attribute).
    public static let invalidArgument = Errno(rawValue: EINVAL)
    /// `ERANGE`.
    public static let outOfRange = Errno(rawValue: ERANGE)
    /// `ENOSPC`: libmnl's report of a reply truncated by a too small receive buffer (`MSG_TRUNC`).
    public static let noSpace = Errno(rawValue: ENOSPC)
    /// `ENOMEM`.
    public static let outOfMemory = Errno(rawValue: ENOMEM)
    /// `ENOBUFS`.
    public static let noBufferSpace = Errno(rawValue: ENOBUFS)
    /// `EOPNOTSUPP` (same value as `ENOTSUP` on Linux): e.g. an unknown link kind.
    public static let notSupported = Errno(rawValue: EOPNOTSUPP)
    /// `EAFNOSUPPORT`: e.g. IPv6 is disabled.
    public static let addressFamilyNotSupported = Errno(rawValue: EAFNOSUPPORT)
    /// `EPROTONOSUPPORT`.
    public static let protocolNotSupported = Errno(rawValue: EPROTONOSUPPORT)
    /// `EADDRNOTAVAIL`: the address to remove is not on the interface.
    public static let addressNotAvailable = Errno(rawValue: EADDRNOTAVAIL)
    /// `ENETDOWN`: e.g. a route's output device is not up.
    public static let networkDown = Errno(rawValue: ENETDOWN)
    /// `ENETUNREACH`.
    public static let networkUnreachable = Errno(rawValue: ENETUNREACH)

    /// The current thread's `errno`.
    static var current: Errno { Errno(rawValue: errno) }

    /// `strerror(3)`, e.g. "No such device".
    public var description: String { String(cString: strerror(rawValue)) }
}
