import Netlink
import Testing

// The builders this backend added to the Netlink module, byte for byte.

@Suite("Netlink additions: link creation and generic netlink")
struct NetlinkAdditionsTests {
    @Test func createLinkOfKindWireGuard() throws {
        let bytes = try LinkRequest.create(named: "wg0", kind: "wireguard")
        #expect(bytes == [
            0x3C, 0x00, 0x00, 0x00,  // nlmsg_len = 60
            0x10, 0x00,              // RTM_NEWLINK (16)
            0x05, 0x06,              // REQUEST 0x1 | ACK 0x4 | EXCL 0x200 | CREATE 0x400
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x00, 0x00,              // ifi_family = AF_UNSPEC, padding
            0x00, 0x00,              // ifi_type
            0x00, 0x00, 0x00, 0x00,  // ifi_index = 0: addressed by name
            0x00, 0x00, 0x00, 0x00,  // ifi_flags
            0x00, 0x00, 0x00, 0x00,  // ifi_change
            0x08, 0x00, 0x03, 0x00,  // nla_len 8, IFLA_IFNAME (3)
            0x77, 0x67, 0x30, 0x00,  //   "wg0\0"
            0x14, 0x00, 0x12, 0x80,  // nla_len 20, IFLA_LINKINFO (18) | NLA_F_NESTED
            0x0E, 0x00, 0x01, 0x00,  //   nla_len 14, IFLA_INFO_KIND (1)
            0x77, 0x69, 0x72, 0x65,  //     "wire
            0x67, 0x75, 0x61, 0x72,  //      guar
            0x64, 0x00, 0x00, 0x00,  //      d\0", padding
        ])
    }

    @Test func getFamilyByName() throws {
        let bytes = try GenericFamilyRequest.get(named: "wireguard")
        #expect(bytes == [
            0x24, 0x00, 0x00, 0x00,  // nlmsg_len = 36
            0x10, 0x00,              // GENL_ID_CTRL (0x10)
            0x05, 0x00,              // NLM_F_REQUEST | NLM_F_ACK
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x03,                    // genlmsghdr.cmd = CTRL_CMD_GETFAMILY
            0x01,                    // genlmsghdr.version = 1
            0x00, 0x00,              // reserved
            0x0E, 0x00, 0x02, 0x00,  // nla_len 14, CTRL_ATTR_FAMILY_NAME (2)
            0x77, 0x69, 0x72, 0x65,  //   "wire
            0x67, 0x75, 0x61, 0x72,  //    guar
            0x64, 0x00, 0x00, 0x00,  //    d\0", padding
        ])
    }

    @Test func parseFamilyReply() throws {
        // CTRL_CMD_NEWFAMILY as the controller sends it (ops and groups left out).
        let reply = NetlinkMessage(type: 0x10, flags: 0, sequence: 1, portID: 5, payload: [
            0x01, 0x02, 0x00, 0x00,  // CTRL_CMD_NEWFAMILY, controller version 2
            0x0E, 0x00, 0x02, 0x00,  // CTRL_ATTR_FAMILY_NAME
            0x77, 0x69, 0x72, 0x65, 0x67, 0x75, 0x61, 0x72, 0x64, 0x00, 0x00, 0x00,
            0x06, 0x00, 0x01, 0x00,  // CTRL_ATTR_FAMILY_ID
            0x22, 0x00, 0x00, 0x00,  //   0x22
            0x08, 0x00, 0x03, 0x00,  // CTRL_ATTR_VERSION
            0x01, 0x00, 0x00, 0x00,  //   1
        ])
        #expect(try GenericFamily(parsing: reply) == GenericFamily(id: 0x22, name: "wireguard", version: 1))

        var noID = reply
        noID.payload = Array(reply.payload.prefix(20))
        #expect(throws: NetlinkError.self) { try GenericFamily(parsing: noID) }
        var wrongType = reply
        wrongType.type = 0x22
        #expect(throws: NetlinkError.self) { try GenericFamily(parsing: wrongType) }
    }

    @Test func genericMessageNeedsRoomForItsHeaders() {
        #expect(throws: NetlinkError.self) {
            try NetlinkRequest(family: 0x22, command: 1, version: 1, flags: [.request], capacity: 19)
        }
    }
}
