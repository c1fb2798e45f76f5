import MeshCore
import MeshUserspace
import Testing

@Suite struct DecodeSetReplyTests {
    @Test func zeroIsSuccess() throws {
        try UAPI.decodeSetReply(Array("errno=0\n\n".utf8))
    }

    /// wireguard-go sends negative numbers, boringtun positive ones.
    @Test(arguments: [
        ("errno=-22\n\n", 22, "wireguard-go rejected the configuration: Invalid argument (errno 22)"),
        ("errno=22\n\n", 22, "wireguard-go rejected the configuration: Invalid argument (errno 22)"),
        ("errno=-98\n\n", 98, "wireguard-go rejected the configuration: Address already in use (errno 98)"),
        ("errno=-71\n\n", 71, "wireguard-go rejected the configuration: Protocol error (errno 71)"),
        ("errno=-55\n\n", 55, "wireguard-go rejected the configuration: unknown error (errno 55)"),
    ])
    func nonZeroIsABackendFailureNamingTheErrno(_ reply: String, _ number: Int32, _ description: String) {
        let error = #expect(throws: MeshError.self) { try UAPI.decodeSetReply(Array(reply.utf8)) }
        #expect(error?.code == .backendFailure)
        #expect(error?.errno == number)
        #expect(error?.description == description)
    }

    @Test(arguments: ["", "errno=0\n", "errno=\n\n", "errno=abc\n\n", "errno=--1\n\n", "errno=99999999999\n\n",
                      "ok\n\n", "errno=0\nerrno=0\n\n", "errno=0\n\nerrno=0\n\n", "\n\n"])
    func malformedRepliesAreErrors(_ reply: String) {
        let error = #expect(throws: MeshError.self) { try UAPI.decodeSetReply(Array(reply.utf8)) }
        #expect(error?.code == .backendFailure)
        #expect(error?.errno == nil)
    }
}
