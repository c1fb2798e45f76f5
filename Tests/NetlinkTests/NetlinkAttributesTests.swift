import Netlink
import Testing

@Suite("Attributes and the request builder")
struct NetlinkAttributesTests {
    @Test func nestedFlagIsMaskedOffTheType() throws {
        let attributes = try NetlinkAttributes(parsing: [
            0x08, 0x00, 0x05, 0x80, 0x04, 0x00, 0x01, 0x00,  // type 5 | NLA_F_NESTED, holding an empty attribute 1
            0x08, 0x00, 0x06, 0x40, 0x2A, 0x00, 0x00, 0x00,  // type 6 | NLA_F_NET_BYTEORDER, u32 42
        ])
        #expect(attributes.all.map(\.type) == [5, 6])
        #expect(attributes[5]?.isNested == true)
        #expect(try attributes.nested(5)?.all.map(\.type) == [1])
        #expect(try attributes.u32(6) == 42)
    }

    @Test func wrongIntegerSizeIsMalformed() throws {
        let attributes = try NetlinkAttributes(parsing: [0x06, 0x00, 0x04, 0x00, 0x01, 0x02, 0x00, 0x00])
        #expect(throws: NetlinkError.self) { try attributes.u32(4) }
        #expect(try attributes.u16(4) == 0x0201)
    }

    @Test func lengthPastTheEndIsMalformed() {
        #expect(throws: NetlinkError.self) {
            try NetlinkAttributes(parsing: [0x0C, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00])
        }
        #expect(throws: NetlinkError.self) {
            try NetlinkAttributes(parsing: [0x02, 0x00, 0x01, 0x00])
        }
    }

    @Test func nestsAreClosedAndCancelled() throws {
        var request = NetlinkRequest(type: 0x10, flags: [.request, .acknowledge])
        try request.appendHeader(UInt32(0x0001_0203))  // a 4-byte family header, like genlmsghdr
        let kept = try request.beginNest(8)
        try request.put(1, string: "wg0")
        request.endNest(kept)
        let lengthBeforeCancelled = request.length
        let dropped = try request.beginNest(9)
        try request.put(2, u64: 7)
        request.cancelNest(dropped)
        #expect(request.length == lengthBeforeCancelled)
        #expect(request.bytes == [
            0x20, 0x00, 0x00, 0x00, 0x10, 0x00, 0x05, 0x00,  // len 32, type 0x10, REQUEST | ACK
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // seq, pid
            0x03, 0x02, 0x01, 0x00,                          // the family header
            0x0C, 0x00, 0x08, 0x80,                          // nest: len 12, type 8 | NLA_F_NESTED
            0x08, 0x00, 0x01, 0x00, 0x77, 0x67, 0x30, 0x00,  //   attribute 1 = "wg0\0"
        ])
    }

    @Test func putThatDoesNotFitThrowsAndLeavesMessageIntact() throws {
        var request = NetlinkRequest(type: 0x10, flags: [.request], capacity: 28)
        try request.put(1, u32: 1)  // 16 + 8 = 24
        #expect {
            try request.put(2, u32: 2)
        } throws: { ($0 as? NetlinkError)?.code == .messageTooLarge }
        #expect(request.length == 24)
    }

    @Test func messageSplitRejectsShortLength() {
        #expect(throws: NetlinkError.self) {
            try NetlinkMessage.split([0x08, 0x00, 0x00, 0x00, 0x03, 0x00, 0x02, 0x00, 0, 0, 0, 0, 0, 0, 0, 0])
        }
    }
}
