import MeshCore
import MeshRouting
import Netlink
import Testing

// Golden requests, written out by hand from the uapi headers (linux/netlink.h, rtnetlink.h,
// if_link.h, if_addr.h, fib_rules.h) and checked against what iproute2 sends. Integers are
// host order, little-endian here. Sequence and port id are 0: the socket stamps the sequence.

@Suite("Request builders: golden bytes")
struct BuildRequestGoldenTests {
    @Test func replaceDeviceRouteInTableAbove255() throws {
        let route = RouteSpec(destination: try IPPrefix("10.244.2.0/24"), table: 51830, target: .device("meshguard0"))
        let bytes = try RouteRequest.replace(routeMessage(route, outputInterface: 7))
        #expect(bytes == [
            0x34, 0x00, 0x00, 0x00,  // nlmsg_len = 52
            0x18, 0x00,              // nlmsg_type = RTM_NEWROUTE (24)
            0x05, 0x05,              // nlmsg_flags = REQUEST 0x1 | ACK 0x4 | REPLACE 0x100 | CREATE 0x400
            0x00, 0x00, 0x00, 0x00,  // nlmsg_seq
            0x00, 0x00, 0x00, 0x00,  // nlmsg_pid
            0x02,                    // rtm_family = AF_INET
            0x18,                    // rtm_dst_len = 24
            0x00,                    // rtm_src_len
            0x00,                    // rtm_tos
            0x00,                    // rtm_table = RT_TABLE_UNSPEC: 51830 does not fit, see RTA_TABLE
            0x04,                    // rtm_protocol = RTPROT_STATIC
            0xFD,                    // rtm_scope = RT_SCOPE_LINK (253)
            0x01,                    // rtm_type = RTN_UNICAST
            0x00, 0x00, 0x00, 0x00,  // rtm_flags
            0x08, 0x00, 0x0F, 0x00,  // nla_len 8, RTA_TABLE (15)
            0x76, 0xCA, 0x00, 0x00,  //   51830 = 0xCA76
            0x08, 0x00, 0x01, 0x00,  // nla_len 8, RTA_DST (1)
            0x0A, 0xF4, 0x02, 0x00,  //   10.244.2.0
            0x08, 0x00, 0x04, 0x00,  // nla_len 8, RTA_OIF (4)
            0x07, 0x00, 0x00, 0x00,  //   ifindex 7
        ])
    }

    @Test func replaceThrowRoute() throws {
        let route = RouteSpec(destination: try IPPrefix("10.244.3.0/24"), table: 51830, target: .throw)
        let bytes = try RouteRequest.replace(routeMessage(route, outputInterface: nil))
        #expect(bytes == [
            0x2C, 0x00, 0x00, 0x00,  // nlmsg_len = 44
            0x18, 0x00,              // RTM_NEWROUTE
            0x05, 0x05,              // REQUEST | ACK | REPLACE | CREATE
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x02, 0x18, 0x00, 0x00,  // AF_INET, dst_len 24, src_len 0, tos 0
            0x00,                    // rtm_table = RT_TABLE_UNSPEC
            0x04,                    // RTPROT_STATIC
            0x00,                    // RT_SCOPE_UNIVERSE: no device, as `ip route add throw` sends
            0x09,                    // RTN_THROW
            0x00, 0x00, 0x00, 0x00,  // rtm_flags
            0x08, 0x00, 0x0F, 0x00,  // RTA_TABLE
            0x76, 0xCA, 0x00, 0x00,  //   51830
            0x08, 0x00, 0x01, 0x00,  // RTA_DST
            0x0A, 0xF4, 0x03, 0x00,  //   10.244.3.0 (no RTA_OIF)
        ])
    }

    @Test func replaceUnreachableIPv6Route() throws {
        let route = RouteSpec(destination: try IPPrefix("fd00:244:4::/64"), table: 51830, target: .unreachable)
        let bytes = try RouteRequest.replace(routeMessage(route, outputInterface: nil))
        #expect(bytes == [
            0x38, 0x00, 0x00, 0x00,  // nlmsg_len = 56
            0x18, 0x00,              // RTM_NEWROUTE
            0x05, 0x05,              // REQUEST | ACK | REPLACE | CREATE
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x0A, 0x40, 0x00, 0x00,  // AF_INET6 (10), dst_len 64, src_len 0, tos 0
            0x00, 0x04, 0x00,        // RT_TABLE_UNSPEC, RTPROT_STATIC, RT_SCOPE_UNIVERSE
            0x07,                    // RTN_UNREACHABLE
            0x00, 0x00, 0x00, 0x00,  // rtm_flags
            0x08, 0x00, 0x0F, 0x00,  // RTA_TABLE
            0x76, 0xCA, 0x00, 0x00,  //   51830
            0x14, 0x00, 0x01, 0x00,  // nla_len 20, RTA_DST
            0xFD, 0x00, 0x02, 0x44, 0x00, 0x04, 0x00, 0x00,  // fd00:244:4::
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
        ])
    }

    @Test func deleteThrowRouteMatchesAnyScopeAndProtocol() throws {
        let route = RouteSpec(destination: try IPPrefix("10.244.3.0/24"), table: 51830, target: .throw)
        let bytes = try RouteRequest.delete(deleteRouteMessage(route, outputInterface: nil))
        #expect(bytes == [
            0x2C, 0x00, 0x00, 0x00,  // nlmsg_len = 44
            0x19, 0x00,              // RTM_DELROUTE (25)
            0x05, 0x00,              // REQUEST | ACK
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x02, 0x18, 0x00, 0x00,  // AF_INET, dst_len 24, src_len 0, tos 0
            0x00,                    // RT_TABLE_UNSPEC
            0x00,                    // RTPROT_UNSPEC: any protocol
            0xFF,                    // RT_SCOPE_NOWHERE: any scope
            0x09,                    // RTN_THROW
            0x00, 0x00, 0x00, 0x00,  // rtm_flags
            0x08, 0x00, 0x0F, 0x00,  // RTA_TABLE
            0x76, 0xCA, 0x00, 0x00,  //   51830
            0x08, 0x00, 0x01, 0x00,  // RTA_DST
            0x0A, 0xF4, 0x03, 0x00,  //   10.244.3.0
        ])
    }

    @Test func addInvertedFwmarkRule() throws {
        let rule = RuleSpec(family: .inet, priority: 95, fwmark: 0x2000, fwmask: 0x2000, table: 51830, invert: true)
        let bytes = try RuleRequest.add(ruleMessage(rule))
        #expect(bytes == [
            0x3C, 0x00, 0x00, 0x00,  // nlmsg_len = 60
            0x20, 0x00,              // RTM_NEWRULE (32)
            0x05, 0x06,              // REQUEST 0x1 | ACK 0x4 | EXCL 0x200 | CREATE 0x400
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x02,                    // family = AF_INET
            0x00, 0x00, 0x00,        // dst_len, src_len, tos
            0x00,                    // table = RT_TABLE_UNSPEC: 51830 does not fit, see FRA_TABLE
            0x00, 0x00,              // res1, res2
            0x01,                    // action = FR_ACT_TO_TBL
            0x02, 0x00, 0x00, 0x00,  // flags = FIB_RULE_INVERT ("not")
            0x08, 0x00, 0x06, 0x00,  // FRA_PRIORITY (6)
            0x5F, 0x00, 0x00, 0x00,  //   95
            0x08, 0x00, 0x0A, 0x00,  // FRA_FWMARK (10)
            0x00, 0x20, 0x00, 0x00,  //   0x2000
            0x08, 0x00, 0x10, 0x00,  // FRA_FWMASK (16)
            0x00, 0x20, 0x00, 0x00,  //   0x2000
            0x08, 0x00, 0x0F, 0x00,  // FRA_TABLE (15)
            0x76, 0xCA, 0x00, 0x00,  //   51830
        ])
    }

    @Test func deleteRuleInSmallTableWithoutMark() throws {
        let rule = RuleSpec(family: .inet6, priority: 32000, fwmark: 0, fwmask: 0, table: 200, invert: false)
        let bytes = try RuleRequest.delete(ruleMessage(rule))
        #expect(bytes == [
            0x2C, 0x00, 0x00, 0x00,  // nlmsg_len = 44
            0x21, 0x00,              // RTM_DELRULE (33)
            0x05, 0x00,              // REQUEST | ACK
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x0A, 0x00, 0x00, 0x00,  // AF_INET6, dst_len, src_len, tos
            0xC8,                    // table = 200: fits the byte
            0x00, 0x00,              // res1, res2
            0x01,                    // FR_ACT_TO_TBL
            0x00, 0x00, 0x00, 0x00,  // flags: not inverted
            0x08, 0x00, 0x06, 0x00,  // FRA_PRIORITY
            0x00, 0x7D, 0x00, 0x00,  //   32000 (no FRA_FWMARK/FRA_FWMASK: no mark selector)
            0x08, 0x00, 0x0F, 0x00,  // FRA_TABLE, sent even when the byte holds it
            0xC8, 0x00, 0x00, 0x00,  //   200
        ])
    }

    @Test func setLinkMTUAndUp() throws {
        let bytes = try LinkRequest.set(named: "mg0", mtu: 1420, up: true)
        #expect(bytes == [
            0x30, 0x00, 0x00, 0x00,  // nlmsg_len = 48
            0x13, 0x00,              // RTM_SETLINK (19)
            0x05, 0x00,              // REQUEST | ACK
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x00, 0x00,              // ifi_family = AF_UNSPEC, padding
            0x00, 0x00,              // ifi_type
            0x00, 0x00, 0x00, 0x00,  // ifi_index = 0: by name
            0x01, 0x00, 0x00, 0x00,  // ifi_flags = IFF_UP
            0x01, 0x00, 0x00, 0x00,  // ifi_change = IFF_UP
            0x08, 0x00, 0x03, 0x00,  // nla_len 8, IFLA_IFNAME (3)
            0x6D, 0x67, 0x30, 0x00,  //   "mg0\0"
            0x08, 0x00, 0x04, 0x00,  // IFLA_MTU (4)
            0x8C, 0x05, 0x00, 0x00,  //   1420
        ])
    }

    @Test func setLinkDownLeavesMTUAlone() throws {
        let bytes = try LinkRequest.set(named: "meshguard0", mtu: nil, up: false)
        #expect(bytes == [
            0x30, 0x00, 0x00, 0x00,  // nlmsg_len = 48
            0x13, 0x00, 0x05, 0x00,  // RTM_SETLINK, REQUEST | ACK
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x00, 0x00, 0x00, 0x00,  // family, padding, type
            0x00, 0x00, 0x00, 0x00,  // ifi_index = 0
            0x00, 0x00, 0x00, 0x00,  // ifi_flags: IFF_UP clear…
            0x01, 0x00, 0x00, 0x00,  // ifi_change = IFF_UP: …and that bit applies
            0x0F, 0x00, 0x03, 0x00,  // nla_len 15, IFLA_IFNAME
            0x6D, 0x65, 0x73, 0x68,  //   "mesh
            0x67, 0x75, 0x61, 0x72,  //    guar
            0x64, 0x30, 0x00, 0x00,  //    d0\0" + 1 byte of padding (no IFLA_MTU)
        ])
    }

    @Test func addIPv4Address() throws {
        let address = InterfaceAddress(address: try IPAddress("10.99.0.1"), prefixLength: 24)
        let bytes = try AddressRequest.add(addressMessage(address, interfaceIndex: 3, operation: "test"))
        #expect(bytes == [
            0x28, 0x00, 0x00, 0x00,  // nlmsg_len = 40
            0x14, 0x00,              // RTM_NEWADDR (20)
            0x05, 0x06,              // REQUEST | ACK | EXCL | CREATE
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x02,                    // ifa_family = AF_INET
            0x18,                    // ifa_prefixlen = 24
            0x00,                    // ifa_flags
            0x00,                    // ifa_scope = RT_SCOPE_UNIVERSE
            0x03, 0x00, 0x00, 0x00,  // ifa_index = 3
            0x08, 0x00, 0x02, 0x00,  // IFA_LOCAL (2)
            0x0A, 0x63, 0x00, 0x01,  //   10.99.0.1
            0x08, 0x00, 0x01, 0x00,  // IFA_ADDRESS (1): same, no peer
            0x0A, 0x63, 0x00, 0x01,  //   10.99.0.1
        ])
    }

    @Test func dumpRoutesOfOneFamily() throws {
        #expect(try RouteRequest.dump(family: .inet6) == [
            0x1C, 0x00, 0x00, 0x00,  // nlmsg_len = 28
            0x1A, 0x00,              // RTM_GETROUTE (26)
            0x01, 0x03,              // REQUEST | DUMP (ROOT 0x100 | MATCH 0x200); no ACK on dumps
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x0A,                    // rtm_family = AF_INET6
            0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,  // rest of rtmsg: no filter
            0x00, 0x00, 0x00, 0x00,  // rtm_flags
        ])
    }

    @Test func getLinkByNameSkipsStatistics() throws {
        #expect(try LinkRequest.get(named: "wg0") == [
            0x30, 0x00, 0x00, 0x00,  // nlmsg_len = 48
            0x12, 0x00,              // RTM_GETLINK (18)
            0x05, 0x00,              // REQUEST | ACK: one link, not a dump
            0x00, 0x00, 0x00, 0x00,  // seq
            0x00, 0x00, 0x00, 0x00,  // pid
            0x00, 0x00, 0x00, 0x00,  // family, padding, type
            0x00, 0x00, 0x00, 0x00,  // ifi_index = 0: by name
            0x00, 0x00, 0x00, 0x00,  // ifi_flags
            0x00, 0x00, 0x00, 0x00,  // ifi_change
            0x08, 0x00, 0x03, 0x00,  // IFLA_IFNAME
            0x77, 0x67, 0x30, 0x00,  //   "wg0\0"
            0x08, 0x00, 0x1D, 0x00,  // IFLA_EXT_MASK (29)
            0x08, 0x00, 0x00, 0x00,  //   RTEXT_FILTER_SKIP_STATS (1 << 3)
        ])
    }
}
