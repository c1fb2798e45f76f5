import MeshCore
import MeshRouting
import Netlink
import Testing

@Suite("Parsing captured kernel replies")
struct ParseReplyTests {
    static let names: [UInt32: String] = [1: "lo", 3: "mg0"]

    static func route(_ bytes: [UInt8]) throws -> RouteMessage {
        try RouteMessage(parsing: NetlinkMessage(bytes: bytes))
    }

    @Test func deviceRouteUsesRTATableNotTheCompatByte() throws {
        let message = try Self.route(Fixture.routeDevice)
        #expect(message.family == .inet)
        #expect(message.destinationLength == 24)
        #expect(message.table == 51830)
        #expect(message.origin == .static)
        #expect(message.scope == .link)
        #expect(message.type == .unicast)
        #expect(message.destination == [10, 244, 2, 0])
        #expect(message.outputInterface == 3)
        #expect(routeSpec(message, table: 51830, family: .inet, linkNames: Self.names)
            == RouteSpec(destination: try IPPrefix("10.244.2.0/24"), table: 51830, target: .device("mg0")))
    }

    @Test func throwAndUnreachableRoutes() throws {
        #expect(routeSpec(try Self.route(Fixture.routeThrow), table: 51830, family: .inet, linkNames: Self.names)
            == RouteSpec(destination: try IPPrefix("10.244.3.0/24"), table: 51830, target: .throw))
        #expect(routeSpec(try Self.route(Fixture.routeUnreachable), table: 51830, family: .inet, linkNames: Self.names)
            == RouteSpec(destination: try IPPrefix("10.244.4.0/24"), table: 51830, target: .unreachable))
    }

    @Test func ipv6RoutesIncludingThrowPointingAtLoopback() throws {
        #expect(routeSpec(try Self.route(Fixture.route6Device), table: 51830, family: .inet6, linkNames: Self.names)
            == RouteSpec(destination: try IPPrefix("fd00:244:2::/64"), table: 51830, target: .device("mg0")))
        // The kernel reports IPv6 reject routes with RTA_OIF = lo; the type decides, not the device.
        #expect(routeSpec(try Self.route(Fixture.route6Throw), table: 51830, family: .inet6, linkNames: Self.names)
            == RouteSpec(destination: try IPPrefix("fd00:244:3::/64"), table: 51830, target: .throw))
        #expect(routeSpec(try Self.route(Fixture.route6Device), table: 51830, family: .inet, linkNames: Self.names) == nil)
    }

    @Test func routesOutsideTheModelAreLeftOut() throws {
        #expect(routeSpec(try Self.route(Fixture.routeMainKernel), table: 51830, family: .inet, linkNames: Self.names) == nil,
                "another table")
        #expect(routeSpec(try Self.route(Fixture.routeMainKernel), table: 254, family: .inet, linkNames: Self.names)
            == RouteSpec(destination: try IPPrefix("10.99.0.0/24"), table: 254, target: .device("mg0")))
        #expect(routeSpec(try Self.route(Fixture.routeLocal), table: 255, family: .inet, linkNames: Self.names) == nil,
                "RTN_LOCAL")
        #expect(routeSpec(try Self.route(Fixture.routeDevice), table: 51830, family: .inet, linkNames: [:]) == nil,
                "device vanished between the dumps")
        var viaGateway = try Self.route(Fixture.routeDevice)
        viaGateway.gateway = [10, 99, 0, 2]
        #expect(routeSpec(viaGateway, table: 51830, family: .inet, linkNames: Self.names) == nil, "gateway route")
    }

    @Test func parsingRejectsAnotherMessageType() throws {
        #expect(throws: NetlinkError.self) { try RuleMessage(parsing: NetlinkMessage(bytes: Fixture.routeDevice)) }
    }

    @Test func ruleDumpDecodesMarksTablesAndSkipsOtherSelectors() throws {
        let messages = try NetlinkMessage.split(Fixture.ruleDump)
        #expect(messages.count == 7)
        let rules = try messages.dropLast().map { try RuleMessage(parsing: $0) }
        #expect(rules.map(\.priority) == [0, 95, 96, 97, 32766, 32767], "priority 0 has no FRA_PRIORITY")
        #expect(rules.map(\.hasOtherSelectors) == [false, false, true, false, false, false],
                "96 is `from 10.0.0.0/8`; FRA_SUPPRESS_PREFIXLEN = -1 on every rule is not a selector")
        #expect(rules.compactMap { ruleSpec($0, family: .inet) } == [
            RuleSpec(family: .inet, priority: 0, fwmark: 0, fwmask: 0, table: 255, invert: false),
            RuleSpec(family: .inet, priority: 95, fwmark: 0x2000, fwmask: 0x2000, table: 51830, invert: true),
            RuleSpec(family: .inet, priority: 97, fwmark: 0x10, fwmask: 0xFFFF_FFFF, table: 200, invert: false),
            RuleSpec(family: .inet, priority: 32766, fwmark: 0, fwmask: 0, table: 254, invert: false),
            RuleSpec(family: .inet, priority: 32767, fwmark: 0, fwmask: 0, table: 253, invert: false),
        ])
        #expect(rules.compactMap { ruleSpec($0, family: .inet6) }.isEmpty)
    }

    @Test func ruleWithoutMaskAttributeMeansAllOnes() throws {
        // Kernels that leave out FRA_FWMASK for 0xffffffff: drop it from the `fwmark 0x10` rule.
        let messages = try NetlinkMessage.split(Fixture.ruleDump)
        var message = messages[3]
        #expect(Array(message.payload.suffix(8)) == [0x08, 0x00, 0x10, 0x00, 0xFF, 0xFF, 0xFF, 0xFF])
        message.payload.removeLast(8)
        let rule = try RuleMessage(parsing: message)
        #expect(rule.fwmark == 0x10)
        #expect(rule.fwmask == 0xFFFF_FFFF)
    }

    @Test func addressesPreferLocalThenAddress() throws {
        let v4 = try AddressMessage(parsing: NetlinkMessage(bytes: Fixture.addressV4))
        #expect(v4 == AddressMessage(family: .inet, prefixLength: 24, interfaceIndex: 3, address: [10, 99, 0, 1]))
        let v6 = try AddressMessage(parsing: NetlinkMessage(bytes: Fixture.addressV6))
        #expect(interfaceAddress(v6) == InterfaceAddress(address: try IPAddress("fd00:99::1"), prefixLength: 64))
    }

    @Test func tunLinkWithKindAndNestedFlaggedAttributes() throws {
        let link = try LinkMessage(parsing: NetlinkMessage(bytes: Fixture.linkTun))
        #expect(link == LinkMessage(index: 4, flags: link.flags, name: "mg1", mtu: 1500, kind: "tun"))
        #expect(!link.isUp)
        let address = try AddressMessage(parsing: NetlinkMessage(bytes: Fixture.addressV4))
        var onTun = address
        onTun.interfaceIndex = 4
        #expect(linkStates([link], [address, onTun]) == [
            LinkState(name: "mg1", index: 4, mtu: 1500, isUp: false,
                      addresses: [InterfaceAddress(address: try IPAddress("10.99.0.1"), prefixLength: 24)], kind: "tun"),
        ])
    }
}

@Suite("Translating netlink errors")
struct TranslateNetlinkErrorTests {
    @Test func missingDeviceIsNotFoundAndNamesTheRoute() {
        let error = meshError(NetlinkError(.kernelRejected, "netlink request", errno: .noSuchDevice),
                              while: "adding route 10.244.2.0/24 dev meshguard0 table 51830")
        #expect(error.code == .notFound)
        #expect(error.errno == 19)
        #expect(error.description == "adding route 10.244.2.0/24 dev meshguard0 table 51830: No such device (errno 19)")
    }

    @Test(arguments: [
        (Errno.notPermitted, MeshError.Code.permissionDenied),
        (.permissionDenied, .permissionDenied),
        (.exists, .alreadyExists),
        (.invalidArgument, .invalidArgument),
        (.notSupported, .unsupported),
        (.networkDown, .unavailable),
        (Errno(rawValue: 113), .backendFailure),  // EHOSTUNREACH: nothing more specific
    ])
    func errnoToCode(errno: Errno, code: MeshError.Code) {
        #expect(meshError(NetlinkError(.kernelRejected, "netlink request", errno: errno), while: "x").code == code)
    }

    @Test func kernelMessageAndSystemCallDetail() {
        let rejected = meshError(NetlinkError(.kernelRejected, "netlink request", errno: .invalidArgument,
                                              kernelMessage: "mtu greater than device maximum"),
                                 while: "setting link mg0 mtu 1048576")
        #expect(rejected.message == "setting link mg0 mtu 1048576: Invalid argument; kernel: mtu greater than device maximum")
        let system = meshError(NetlinkError(.systemCallFailed, "open network namespace /x", errno: .noSuchFileOrDirectory),
                               while: "opening an rtnetlink socket")
        #expect(system.code == .notFound)
        #expect(system.message == "opening an rtnetlink socket: open network namespace /x: No such file or directory")
        #expect(meshError(NetlinkError(.timeout, "no netlink reply"), while: "x").code == .timeout)
        #expect(meshError(NetlinkError(.dumpInterrupted, "dump"), while: "x").code == .unavailable)
    }
}
