import Glibc

/// glibc functions that Swift's Glibc module leaves out because they sit behind _GNU_SOURCE,
/// looked up at run time instead (MeshLab may not add a C target).
enum GNU {
    typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32
    typealias Pipe2 = @convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc ≥ 2.34): the child closes every
    /// descriptor from 3 up, whatever this process has open without O_CLOEXEC. Nil on an older
    /// glibc, where children may inherit such descriptors.
    static let addCloseFrom: AddCloseFrom? = symbol("posix_spawn_file_actions_addclosefrom_np")

    /// `pipe2`, so the pipe is close-on-exec from birth and no child spawned meanwhile by
    /// another thread inherits it.
    static func pipe2(_ fds: UnsafeMutablePointer<Int32>, _ flags: Int32) -> Int32 {
        if let pipe2Function { return pipe2Function(fds, flags) }
        guard pipe(fds) == 0 else { return -1 }
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return 0
    }

    private static let pipe2Function: Pipe2? = symbol("pipe2")

    typealias SetNS = @convention(c) (Int32, Int32) -> Int32
    /// `setns(2)` (glibc ≥ 2.14).
    static let setns: SetNS? = symbol("setns")

    typealias Accept4 = @convention(c) (Int32, UnsafeMutablePointer<sockaddr>?, UnsafeMutablePointer<socklen_t>?, Int32) -> Int32
    private static let accept4Function: Accept4? = symbol("accept4")

    /// `accept4` with SOCK_NONBLOCK | SOCK_CLOEXEC, so the socket is both from birth; `accept`
    /// and fcntl where accept4 is missing.
    static func acceptNonBlocking(_ listener: Int32) -> Int32 {
        if let accept4Function {
            return accept4Function(listener, nil, nil, Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue))
        }
        let fd = accept(listener, nil, nil)
        if fd >= 0 {
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            _ = fcntl(fd, F_SETFL, O_NONBLOCK)
        }
        return fd
    }

    private static func symbol<T>(_ name: String) -> T? {
        guard let handle = dlopen(nil, RTLD_NOW), let pointer = dlsym(handle, name) else { return nil }
        return unsafeBitCast(pointer, to: T.self)
    }
}
