import Foundation
import MeshCore
import MeshUserspace
import Testing

/// The backend against sockets that misbehave, in a private socket directory: no root, no
/// wireguard-go.
@Suite struct SocketFailureTests {
    @Test func aHungDeviceTimesOutInsteadOfHanging() async throws {
        try await withSocketDirectory { directory in
            let listener = try listeningSocket(at: directory + "/hung0.sock") // never accepts
            defer { close(listener) }
            let devices = UserspaceDevices(configuration: .init(socketDirectory: directory, ioTimeout: .milliseconds(300)))
            let started = ContinuousClock.now
            let error = await #expect(throws: MeshError.self) { try await devices.device(named: "hung0") }
            #expect(error?.code == .timeout)
            // Bounded by the configured 300 ms, not the 10 s default: the limit is generous
            // because the whole suite starts at once on two cores and may delay the call.
            #expect(ContinuousClock.now - started < .seconds(9))
        }
    }

    @Test func aStaleSocketMeansNoDeviceAndIsRemovedOnDelete() async throws {
        try await withSocketDirectory { directory in
            let path = directory + "/stale0.sock"
            close(try listeningSocket(at: path)) // the file stays, nobody listens
            let devices = UserspaceDevices(configuration: .init(socketDirectory: directory))
            #expect(try await devices.device(named: "stale0") == nil)
            let error = await #expect(throws: MeshError.self) {
                try await devices.apply(DevicePatch(listenPort: 1), to: "stale0")
            }
            #expect(error?.code == .notFound)
            try await devices.deleteDevice(named: "stale0")
            #expect(access(path, F_OK) != 0)
            try await devices.deleteDevice(named: "stale0")
        }
    }

    @Test func somethingThatIsNotASocketIsLeftAlone() async throws {
        try await withSocketDirectory { directory in
            let path = directory + "/file0.sock"
            #expect(FileManager.default.createFile(atPath: path, contents: Data("keep me".utf8)))
            let devices = UserspaceDevices(configuration: .init(socketDirectory: directory))
            let error = await #expect(throws: MeshError.self) { try await devices.ensureDevice(named: "file0") }
            #expect(error?.code == .invalidArgument)
            #expect(FileManager.default.contents(atPath: path) == Data("keep me".utf8))
        }
    }

    @Test func missingWireGuardGoIsUnsupported() async throws {
        try await withSocketDirectory { directory in
            let devices = UserspaceDevices(configuration: .init(socketDirectory: directory,
                                                                executable: directory + "/no-such/wireguard-go"))
            let error = await #expect(throws: MeshError.self) { try await devices.ensureDevice(named: "none0") }
            #expect(error?.code == .unsupported)
            #expect(error?.message.contains("wireguard-go is not installed") == true)
        }
    }

    @Test(arguments: ["", "a/b", "../etc", "..", ".", "sixteen-chars-xx", "has space", "colon:0"])
    func invalidNamesAreRejected(_ name: String) async throws {
        let devices = UserspaceDevices(configuration: .init(socketDirectory: "/nonexistent"))
        for operation in 0..<4 {
            let error = await #expect(throws: MeshError.self) {
                switch operation {
                case 0: try await devices.ensureDevice(named: name)
                case 1: _ = try await devices.device(named: name)
                case 2: try await devices.apply(DevicePatch(listenPort: 1), to: name)
                default: try await devices.deleteDevice(named: name)
                }
            }
            #expect(error?.code == .invalidArgument)
        }
    }

    /// The reply path of apply, against a server that answers like wireguard-go rejecting a
    /// value; and the request it receives is the encoded patch, in one stream.
    @Test func applySendsOneRequestAndReportsTheErrno() async throws {
        try await withSocketDirectory { directory in
            let listener = try listeningSocket(at: directory + "/fake0.sock")
            defer { close(listener) }
            let patch = DevicePatch(listenPort: 4242, peers: [PeerPatch(publicKey: try PublicKey(bytes: [UInt8](repeating: 7, count: 32)),
                                                                      allowedIPs: [try IPPrefix("10.0.0.0/8")])])
            // The fake server blocks in accept/read: it gets a thread of its own, not one of the
            // cooperative pool's (two on this machine), which other tests may all be holding.
            let server = OnThread { serveOnce(listener, reply: "errno=-22\n\n") }
            let devices = UserspaceDevices(configuration: .init(socketDirectory: directory, ioTimeout: .seconds(5)))
            let error = await #expect(throws: MeshError.self) { try await devices.apply(patch, to: "fake0") }
            #expect(error?.description == "wireguard-go rejected the configuration: Invalid argument (errno 22)")
            #expect(await server.value() == UAPI.encodeSet(patch))

            // An empty patch opens no connection at all: nobody would answer this time.
            try await devices.apply(DevicePatch(), to: "fake0")
        }
    }
}

private func withSocketDirectory(_ body: (String) async throws -> Void) async throws {
    var template = Array("/tmp/mgu-sock-XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
    let path = String(cString: made)
    defer { try? FileManager.default.removeItem(atPath: path) }
    try await body(path)
}

private func listeningSocket(at path: String) throws -> Int32 {
    let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
    var address = sockaddr_un()
    address.sun_family = sa_family_t(AF_UNIX)
    withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8)) }
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
    }
    guard fd >= 0, bound == 0, listen(fd, 4) == 0 else { throw CocoaError(.fileWriteUnknown) }
    return fd
}

/// Accepts one connection, reads one request (up to its blank line), answers `reply`, and
/// returns what it read.
private func serveOnce(_ listener: Int32, reply: String) -> [UInt8] {
    let connection = accept(listener, nil, nil)
    guard connection >= 0 else { return [] }
    defer { close(connection) }
    var received: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 4096)
    while !(received.count >= 2 && received.suffix(2) == [10, 10]) {
        let n = chunk.withUnsafeMutableBytes { recv(connection, $0.baseAddress!, $0.count, 0) }
        guard n > 0 else { break }
        received += chunk.prefix(n)
    }
    _ = Array(reply.utf8).withUnsafeBytes { send(connection, $0.baseAddress!, $0.count, Int32(MSG_NOSIGNAL)) }
    return received
}

/// Runs a blocking function on a dedicated thread; `value()` waits for its result.
private final class OnThread<T: Sendable>: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var result: T?  // written once by the thread before `done` is signalled

    init(_ body: @escaping @Sendable () -> T) {
        Thread { [self] in
            result = body()
            done.signal()
        }.start()
    }

    func value() async -> T {
        await withCheckedContinuation { continuation in
            // Its own serial queue (overcommit pool): the wait blocks a thread.
            DispatchQueue(label: "meshguard.test.on-thread").async { [self] in
                done.wait()
                continuation.resume(returning: result!)
            }
        }
    }
}
