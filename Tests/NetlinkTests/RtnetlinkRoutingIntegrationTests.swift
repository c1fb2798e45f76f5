import Foundation
import Glibc
import MeshCore
import MeshRouting
import MeshTestKit
import Netlink
import Testing

// Against the kernel, each test in its own network namespace (unique names, so they run in
// parallel); the namespace and every interface in it go away when the test ends, also on
// failure (TestNamespace's deinit, plus an explicit destroy). `ip` output is the cross-check.

@Suite("RtnetlinkRouting in a network namespace",
       .enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
struct RtnetlinkRoutingIntegrationTests {
    static let table: UInt32 = 51830

    /// A namespace with a veth pair `mg0`/`mg0p`, both up unless told otherwise.
    static func namespaceWithVeth(_ prefix: String, up: Bool = true) throws -> TestNamespace {
        let namespace = try TestNamespace(prefix)
        try namespace.run(["ip", "link", "add", "mg0", "type", "veth", "peer", "name", "mg0p"])
        if up {
            try namespace.run(["ip", "link", "set", "mg0", "up"])
            try namespace.run(["ip", "link", "set", "mg0p", "up"])
        }
        return namespace
    }

    /// Non-empty lines with surrounding whitespace removed.
    static func lines(_ text: String) -> [String] {
        text.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    @Test func linksMTUUpAndAddresses() async throws {
        let namespace = try Self.namespaceWithVeth("links", up: false)
        defer { namespace.destroy() }
        try namespace.run(["ip", "tuntap", "add", "mode", "tun", "mg1"])
        let routing = try RtnetlinkRouting(networkNamespacePath: namespace.path)

        let links = try await routing.links()
        #expect(links.map(\.name).sorted() == ["lo", "mg0", "mg0p", "mg1"])
        #expect(links.first { $0.name == "mg0" }?.kind == "veth")
        #expect(links.first { $0.name == "mg1" }?.kind == "tun")
        let loopback = try #require(links.first { $0.name == "lo" })
        #expect(loopback.kind == nil)
        #expect(loopback.index == 1)
        #expect(loopback.isUp)
        #expect(loopback.addresses.contains(InterfaceAddress(address: try IPAddress("127.0.0.1"), prefixLength: 8)))

        try await routing.setLink(named: "mg0", mtu: 1420, up: true)
        var mg0 = try #require(try await routing.link(named: "mg0"))
        #expect(mg0.mtu == 1420)
        #expect(mg0.isUp)
        let shown = try namespace.run(["ip", "-o", "link", "show", "mg0"])
        #expect(shown.contains("mtu 1420") && shown.contains(",UP"), "ip says: \(shown)")

        let v4 = InterfaceAddress(address: try IPAddress("10.99.0.1"), prefixLength: 24)
        let v6 = InterfaceAddress(address: try IPAddress("fd00:99::1"), prefixLength: 64)
        for _ in 0..<2 {  // the second add is a no-op, not an error
            try await routing.addAddress(v4, to: "mg0")
            try await routing.addAddress(v6, to: "mg0")
        }
        mg0 = try #require(try await routing.link(named: "mg0"))
        #expect(mg0.addresses.contains(v4) && mg0.addresses.contains(v6), "\(mg0.addresses)")
        let addresses = try namespace.run(["ip", "-o", "addr", "show", "dev", "mg0"])
        #expect(addresses.contains("inet 10.99.0.1/24") && addresses.contains("inet6 fd00:99::1/64"), "ip says: \(addresses)")

        for _ in 0..<2 {  // the second remove is a no-op, not an error
            try await routing.removeAddress(v4, from: "mg0")
            try await routing.removeAddress(v6, from: "mg0")
        }
        mg0 = try #require(try await routing.link(named: "mg0"))
        #expect(!mg0.addresses.contains(v4) && !mg0.addresses.contains(v6))
        #expect(!(try namespace.run(["ip", "-o", "addr", "show", "dev", "mg0"])).contains("10.99.0.1"))

        try await routing.setLink(named: "mg0", mtu: nil, up: false)
        mg0 = try #require(try await routing.link(named: "mg0"))
        #expect(!mg0.isUp)
        #expect(mg0.mtu == 1420, "nil MTU leaves it alone")

        try await routing.deleteLink(named: "mg0")
        try await routing.deleteLink(named: "mg0")  // missing: success
        #expect(try await routing.links().map(\.name).sorted() == ["lo", "mg1"], "the veth peer goes with it")
    }

    @Test func missingLinks() async throws {
        let namespace = try TestNamespace("nolink")
        defer { namespace.destroy() }
        let routing = try RtnetlinkRouting(networkNamespacePath: namespace.path)
        let address = InterfaceAddress(address: try IPAddress("10.99.0.1"), prefixLength: 24)

        #expect(try await routing.link(named: "nosuch0") == nil)
        await #expect { try await routing.setLink(named: "nosuch0", mtu: 1420, up: true) } throws: { error in
            let error = error as? MeshError
            return error?.code == .notFound && error?.message == "setting link nosuch0 mtu 1420 up: No such device"
        }
        await #expect { try await routing.addAddress(address, to: "nosuch0") } throws: { error in
            (error as? MeshError)?.code == .notFound
        }
        try await routing.removeAddress(address, from: "nosuch0")
        try await routing.deleteLink(named: "nosuch0")
        await #expect { try await routing.setLink(named: "way-too-long-name0", mtu: nil, up: true) } throws: { error in
            (error as? MeshError)?.code == .invalidArgument
        }
    }

    struct RouteCase: Sendable, CustomTestStringConvertible {
        var family: IPAddress.Family
        var device, viaThrow, unreachable: String
        /// `ip [-6] route show table 51830` for the three routes, in its order.
        var shown: [String]
        /// The same after `viaThrow` switched to `dev mg0`.
        var switched: String
        var testDescription: String { family == .inet ? "IPv4" : "IPv6" }
    }

    static let routeCases = [
        RouteCase(family: .inet, device: "10.244.2.0/24", viaThrow: "10.244.3.0/24", unreachable: "10.244.4.0/24",
                  shown: ["10.244.2.0/24 dev mg0 proto static scope link",
                          "throw 10.244.3.0/24 proto static",
                          "unreachable 10.244.4.0/24 proto static"],
                  switched: "10.244.3.0/24 dev mg0 proto static scope link"),
        RouteCase(family: .inet6, device: "fd00:244:2::/64", viaThrow: "fd00:244:3::/64", unreachable: "fd00:244:4::/64",
                  shown: ["fd00:244:2::/64 dev mg0 proto static metric 1024 pref medium",
                          "throw fd00:244:3::/64 dev lo proto static metric 1024 pref medium",
                          "unreachable fd00:244:4::/64 dev lo proto static metric 1024 pref medium"],
                  switched: "fd00:244:3::/64 dev mg0 proto static metric 1024 pref medium"),
    ]

    @Test(arguments: routeCases)
    func routesOfAllKindsInATableAbove255(_ cases: RouteCase) async throws {
        let namespace = try Self.namespaceWithVeth("routes")
        defer { namespace.destroy() }
        let routing = try RtnetlinkRouting(networkNamespacePath: namespace.path)
        let ipFamily = cases.family == .inet ? "-4" : "-6"
        let ipRoute = ["ip", ipFamily, "route", "show", "table", "\(Self.table)"]
        let device = RouteSpec(destination: try IPPrefix(cases.device), table: Self.table, target: .device("mg0"))
        let viaThrow = RouteSpec(destination: try IPPrefix(cases.viaThrow), table: Self.table, target: .throw)
        let unreachable = RouteSpec(destination: try IPPrefix(cases.unreachable), table: Self.table, target: .unreachable)
        // Someone else's route in the next table must not show up.
        try namespace.run(["ip", ipFamily, "route", "add", "unreachable", cases.device, "table", "\(Self.table + 1)"])

        for route in [device, viaThrow, unreachable, viaThrow] {  // replace is idempotent
            try await routing.replaceRoute(route)
        }
        #expect(try await routing.routes(table: Self.table, family: cases.family) == [device, viaThrow, unreachable])
        #expect(Self.lines(try namespace.run(ipRoute)) == cases.shown)
        let otherFamily: IPAddress.Family = cases.family == .inet ? .inet6 : .inet
        #expect(try await routing.routes(table: Self.table, family: otherFamily).isEmpty)

        // Switch the throw route to the device in place: one replace, no delete.
        let switched = RouteSpec(destination: viaThrow.destination, table: Self.table, target: .device("mg0"))
        try await routing.replaceRoute(switched)
        #expect(try await routing.routes(table: Self.table, family: cases.family) == [device, switched, unreachable])
        #expect(Self.lines(try namespace.run(ipRoute)) == [cases.shown[0], cases.switched, cases.shown[2]])

        for route in [device, switched, unreachable, device, switched, unreachable] {  // second round: gone already
            try await routing.deleteRoute(route)
        }
        #expect(try await routing.routes(table: Self.table, family: cases.family).isEmpty)
        #expect(Self.lines(try namespace.run(ipRoute)).isEmpty)
        #expect(Self.lines(try namespace.run(["ip", ipFamily, "route", "show", "table", "\(Self.table + 1)"])).count == 1)
    }

    @Test func routeErrorsNameTheRoute() async throws {
        let namespace = try Self.namespaceWithVeth("routeerr", up: false)
        defer { namespace.destroy() }
        let routing = try RtnetlinkRouting(networkNamespacePath: namespace.path)
        let missing = RouteSpec(destination: try IPPrefix("10.244.2.0/24"), table: Self.table, target: .device("nosuch0"))
        await #expect { try await routing.replaceRoute(missing) } throws: { error in
            (error as? MeshError).map { "\($0.code) \($0)" }
                == "notFound adding route 10.244.2.0/24 dev nosuch0 table 51830: No such device (errno 19)"
        }
        try await routing.deleteRoute(missing)  // its device is gone, so is it

        // IPv4 refuses a device route through a down device; the kernel's reason is kept.
        let down = RouteSpec(destination: try IPPrefix("10.244.2.0/24"), table: Self.table, target: .device("mg0"))
        await #expect { try await routing.replaceRoute(down) } throws: { error in
            guard let error = error as? MeshError else { return false }
            return error.code == .unavailable && error.errno == 100
                && error.message.hasPrefix("adding route 10.244.2.0/24 dev mg0 table 51830: Network is down; kernel: ")
        }
        await #expect { try await routing.setLink(named: "mg0", mtu: 1 << 20, up: nil) } throws: { error in
            guard let error = error as? MeshError else { return false }
            return error.code == .invalidArgument && error.message.hasPrefix("setting link mg0 mtu 1048576: Invalid argument")
        }
    }

    @Test(arguments: [IPAddress.Family.inet, .inet6])
    func fwmarkRuleIsIdempotent(_ family: IPAddress.Family) async throws {
        let namespace = try TestNamespace("rules")
        defer { namespace.destroy() }
        let routing = try RtnetlinkRouting(networkNamespacePath: namespace.path)
        let ipRule = ["ip", family == .inet ? "-4" : "-6", "rule", "show"]
        let rule = RuleSpec(family: family, priority: 95, fwmark: 0x2000, fwmask: 0x2000, table: Self.table, invert: true)

        try await routing.addRule(rule)
        try await routing.addRule(rule)  // EEXIST: success
        let rules = try await routing.rules(family: family)
        #expect(rules.filter { $0.table == Self.table } == [rule])
        #expect(rules.contains(RuleSpec(family: family, priority: 32766, fwmark: 0, fwmask: 0, table: 254, invert: false)),
                "the main-table rule")
        #expect(Self.lines(try namespace.run(ipRule)).contains("95:\tnot from all fwmark 0x2000/0x2000 lookup 51830"))

        try await routing.deleteRule(rule)
        try await routing.deleteRule(rule)  // ENOENT: success
        #expect(try await routing.rules(family: family).filter { $0.table == Self.table }.isEmpty)
        #expect(!(try namespace.run(ipRule)).contains("51830"))
    }

    @Test func concurrentCallsShareOneSocket() async throws {
        let namespace = try Self.namespaceWithVeth("concurrent")
        defer { namespace.destroy() }
        let routing = try RtnetlinkRouting(networkNamespacePath: namespace.path)
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for i in 0..<16 {
                group.addTask {
                    let route = RouteSpec(destination: try IPPrefix("10.244.\(i).0/24"), table: Self.table, target: .device("mg0"))
                    try await routing.replaceRoute(route)
                    return try await routing.links().count
                }
            }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(results == Array(repeating: 3, count: 16))
        #expect(try await routing.routes(table: Self.table, family: .inet).count == 16)
    }
}

@Suite("Netlink sockets in network namespaces",
       .enabled(if: TestNamespace.isRoot, "needs root (network namespaces); CI runs as root"))
struct NetlinkNamespaceTests {
    static func inode(_ path: String) -> ino_t? {
        var info = stat()
        return stat(path, &info) == 0 ? info.st_ino : nil
    }

    @Test func socketOpensInsideAndTheThreadComesBack() throws {
        let namespace = try TestNamespace("socket")
        defer { namespace.destroy() }
        // No suspension point between the three reads: this all runs on one thread.
        let before = Self.inode("/proc/thread-self/ns/net")
        var socket = try NetlinkSocket(bus: .route, networkNamespacePath: namespace.path)
        let after = Self.inode("/proc/thread-self/ns/net")
        #expect(before != nil && before == after)
        #expect(Self.inode(namespace.path) != before)

        let names = try socket.dump(LinkRequest.dump()).map { try LinkMessage(parsing: $0).name }
        #expect(names == ["lo"], "the fresh namespace's links, not the host's")
        _ = try NetlinkSocket(bus: .generic, networkNamespacePath: namespace.path)  // for the later genl work
    }

    @Test func missingNamespaceIsNotFound() throws {
        #expect {
            try RtnetlinkRouting(networkNamespacePath: "/var/run/netns/mgt-does-not-exist-\(getpid())")
        } throws: { error in
            guard let error = error as? MeshError else { return false }
            return error.code == .notFound && error.message.hasPrefix("opening an rtnetlink socket in network namespace")
        }
    }
}
