import Netlink
import Testing

@Suite("Reading replies: acks, errors, dumps")
struct ReadRepliesTests {
    /// Sequence and port of the captured error fixtures.
    static let port: UInt32 = 0x3774

    @Test func kernelErrorIsPositiveErrno() throws {
        var reader = ReplyReader(sequence: 0x3E9, portID: Self.port)
        try reader.consume(Fixture.errorNoDevice)
        #expect(reader.outcome == .failed(NetlinkError(.kernelRejected, "netlink request", errno: .noSuchDevice)))
    }

    @Test func positiveErrnoFromOtherSubsystemsMeansTheSame() throws {
        // Some generic netlink families answer +errno; flip the captured -ENODEV to +19.
        var bytes = Fixture.errorNoDevice
        bytes.replaceSubrange(16..<20, with: [0x13, 0x00, 0x00, 0x00])
        var reader = ReplyReader(sequence: 0x3E9, portID: Self.port)
        try reader.consume(bytes)
        #expect(reader.outcome == .failed(NetlinkError(.kernelRejected, "netlink request", errno: .noSuchDevice)))
    }

    @Test func extendedAckMessageIsKept() throws {
        var reader = ReplyReader(sequence: 0x3EA, portID: Self.port)
        try reader.consume(Fixture.errorNexthopDown)
        guard case .failed(let error) = reader.outcome else {
            Issue.record("expected a failure, got \(String(describing: reader.outcome))")
            return
        }
        #expect(error.errno == .networkDown)
        #expect(error.kernelMessage == "Device for nexthop is not up")
        #expect(error.description == "netlink request: Network is down (errno 100); kernel: Device for nexthop is not up")
    }

    @Test func extendedAckAfterUncappedEcho() throws {
        // Without NETLINK_CAP_ACK the kernel echoes the whole request before the TLVs.
        let echoed: [UInt8] = [0x14, 0x00, 0x00, 0x00, 0x13, 0x00, 0x05, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 0,
                               0xAA, 0xBB, 0xCC, 0xDD]  // a 20-byte request: header + 4 bytes
        let text = Array("bad\0".utf8)
        let tlv: [UInt8] = [0x08, 0x00, 0x01, 0x00] + text  // NLMSGERR_ATTR_MSG
        let payload: [UInt8] = [0xEA, 0xFF, 0xFF, 0xFF] + echoed + tlv  // -EINVAL
        let message = NetlinkMessage(type: 2, flags: NetlinkFlags.ackTLVs.rawValue, sequence: 7, portID: 9, payload: payload)
        var reader = ReplyReader(sequence: 7, portID: 9)
        try reader.consume(message.bytes)
        #expect(reader.outcome == .failed(NetlinkError(.kernelRejected, "netlink request", errno: .invalidArgument,
                                                       kernelMessage: "bad")))
    }

    @Test func ackCompletesAndKeepsEarlierDataMessages() throws {
        let link = try NetlinkMessage(bytes: Fixture.linkTun)
        var reply = link
        reply.sequence = 5
        reply.portID = 9
        let ack = NetlinkMessage(type: 2, flags: NetlinkFlags.capped.rawValue, sequence: 5, portID: 9,
                                 payload: [0, 0, 0, 0] + reply.bytes.prefix(16))
        var reader = ReplyReader(sequence: 5, portID: 9)
        try reader.consume(reply.bytes + ack.bytes)
        #expect(reader.outcome == .completed)
        #expect(reader.messages == [reply])
    }

    @Test func dumpEndsAtDone() throws {
        var reader = ReplyReader(sequence: 0x3E9, portID: 0x36A5)
        try reader.consume(Fixture.routeDevice + Fixture.routeThrow)
        #expect(reader.outcome == nil)
        try reader.consume(Fixture.routeDone)
        #expect(reader.outcome == .completed)
        #expect(reader.messages.count == 2)
        #expect(!reader.interrupted)
    }

    @Test func errorInDoneFailsTheDump() throws {
        var done = try NetlinkMessage(bytes: Fixture.routeDone)
        done.payload = [0xED, 0xFF, 0xFF, 0xFF]  // -ENODEV, as WireGuard's dump reports a bad ifname
        var reader = ReplyReader(sequence: done.sequence, portID: done.portID)
        try reader.consume(done.bytes)
        #expect(reader.outcome == .failed(NetlinkError(.kernelRejected, "netlink request", errno: .noSuchDevice)))
    }

    @Test func interruptedDumpIsReadToDoneAndFlagged() throws {
        var interrupted = try NetlinkMessage(bytes: Fixture.routeThrow)
        interrupted.flags |= NetlinkFlags.dumpInterrupted.rawValue
        var reader = ReplyReader(sequence: 0x3E9, portID: 0x36A5)
        try reader.consume(Fixture.routeDevice + interrupted.bytes + Fixture.routeUnreachable)
        #expect(reader.outcome == nil, "an interrupted dump is still read to its end")
        try reader.consume(Fixture.routeDone)
        #expect(reader.outcome == .completed)
        #expect(reader.interrupted)
    }

    @Test func staleRepliesOfEarlierRequestsAreSkipped() throws {
        // The captured route messages are sequence 0x3e9; the request now waiting is 0x3ea.
        var current = try NetlinkMessage(bytes: Fixture.routeUnreachable)
        current.sequence = 0x3EA
        var done = try NetlinkMessage(bytes: Fixture.routeDone)
        done.sequence = 0x3EA
        var reader = ReplyReader(sequence: 0x3EA, portID: 0x36A5)
        try reader.consume(Fixture.routeDevice + Fixture.routeDone + current.bytes + done.bytes)
        #expect(reader.outcome == .completed)
        #expect(reader.messages == [current])
    }

    @Test func truncatedBufferIsMalformed() {
        var reader = ReplyReader(sequence: 0x3E9, portID: 0x36A5)
        #expect(throws: NetlinkError.self) { try reader.consume(Array(Fixture.routeDevice.dropLast(4))) }
    }

    @Test func retriesAnInterruptedDumpThenSucceeds() throws {
        var calls = 0
        let result = try retryingInterruptedDump(maxAttempts: 3) { () throws(NetlinkError) in
            calls += 1
            return DumpAttempt(messages: [NetlinkMessage(type: 24, flags: 2, sequence: UInt32(calls), portID: 1, payload: [])],
                               interrupted: calls < 3)
        }
        #expect(calls == 3)
        #expect(result.map(\.sequence) == [3], "only the uninterrupted attempt's messages count")
    }

    @Test func givesUpAfterBoundedAttempts() {
        var calls = 0
        #expect {
            _ = try retryingInterruptedDump(maxAttempts: 4) { () throws(NetlinkError) in
                calls += 1
                return DumpAttempt(messages: [], interrupted: true)
            }
        } throws: { ($0 as? NetlinkError)?.code == .dumpInterrupted }
        #expect(calls == 4)
    }

    @Test func socketStampsSequenceAndAck() throws {
        let request = try RouteRequest.dump(family: .inet)
        let stamped = NetlinkSocket.stamp(request, sequence: 0x0102_0304, adding: [.request, .acknowledge])
        #expect(Array(stamped[6..<8]) == [0x05, 0x03], "REQUEST | ACK added to REQUEST | DUMP")
        #expect(Array(stamped[8..<12]) == [0x04, 0x03, 0x02, 0x01])
        #expect(Array(stamped[12...]) == Array(request[12...]))
    }
}
