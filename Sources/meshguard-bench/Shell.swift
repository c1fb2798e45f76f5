import Foundation

/// Runs a program and throws with its output if it fails.
@discardableResult
func runCommand(_ arguments: [String]) throws -> String {
    let (status, text) = try runCapturing(arguments)
    guard status == 0 else {
        throw BenchError("`\(arguments.joined(separator: " "))` exited \(status): \(text)")
    }
    return text
}

/// Runs a program (looked up on PATH) and waits for it; returns its exit status (128 + the
/// signal when killed) and what it printed, stdout and stderr together.
///
/// posix_spawn and a blocking waitpid rather than Foundation's Process: on Linux,
/// `Process.waitUntilExit()` polls in 50 ms steps, which would add up to 50 ms to every timed
/// `wg setconf` and every probe of the agent's data plane.
func runCapturing(_ arguments: [String]) throws -> (status: Int32, output: String) {
    var fds: [Int32] = [0, 0]
    guard pipe(&fds) == 0 else { throw BenchError("pipe: errno \(errno)") }
    let (readEnd, writeEnd) = (fds[0], fds[1])
    defer { close(readEnd) }
    _ = fcntl(readEnd, F_SETFD, FD_CLOEXEC)

    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_adddup2(&actions, writeEnd, 1)
    posix_spawn_file_actions_adddup2(&actions, writeEnd, 2)
    posix_spawn_file_actions_addclose(&actions, writeEnd)

    var pid: pid_t = 0
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    let rc = posix_spawnp(&pid, arguments[0], &actions, nil, &argv, environ)
    close(writeEnd)
    guard rc == 0 else { throw BenchError("cannot run \(arguments[0]): errno \(rc)") }

    var output: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while true {
        let n = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress!, $0.count) }
        if n < 0 && errno == EINTR { continue }
        guard n > 0 else { break }
        output += chunk.prefix(n)
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
    let signal = status & 0x7f
    return (signal == 0 ? (status >> 8) & 0xff : 128 + signal, String(decoding: output, as: UTF8.self))
}
