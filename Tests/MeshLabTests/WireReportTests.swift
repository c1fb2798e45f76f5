import MeshCore
@testable import MeshLab
import Testing

@Suite struct WireReportTests {
    typealias B = PcapBytes

    static let nodes: Set<IPAddress> = [try! IPAddress("192.168.77.11"), try! IPAddress("192.168.77.12")]

    func report(_ records: [[UInt8]]) throws -> WireReport {
        WireReport(try Pcap.parse(B.file(records)))
    }

    @Test func wireGuardBetweenNodesAndARPAreClean() throws {
        let report = try report([
            B.ethernet(0x0800, B.ipv4("192.168.77.11", "192.168.77.12", protocol: 17, B.udp(51820, 51820, [4, 0, 0, 0]))),
            B.ethernet(0x0800, B.ipv4("192.168.77.12", "192.168.77.11", protocol: 17, B.udp(51820, 43211, [4, 0, 0, 0]))),
            B.ethernet(0x0800, B.ipv4("192.168.77.11", "192.168.77.12", protocol: 17, B.udp(43211, 51820, [1, 0, 0, 0]))),
            B.arp,
        ])
        #expect(report.onlyWireGuard(port: 51820, nodeAddresses: Self.nodes).isEmpty)
        #expect(report.totalFrames == 4)
        #expect(report.arpFrames == 1)
        #expect(report.ipv4Packets == 3)
        #expect(report.otherFrames == 0)
        #expect(report.ipv4ByProtocol == [.udp: 3])
        #expect(report.flows.count == 3)
    }

    @Test func everythingElseIsAViolation() throws {
        let report = try report([
            B.ethernet(0x0800, B.ipv4("10.244.1.2", "10.244.2.2", protocol: 6, B.tcp(40000, 5555, Array("secret".utf8)))),
            B.ethernet(0x0800, B.ipv4("192.168.77.11", "192.168.77.12", protocol: 17, B.udp(53, 53, []))),
            B.ethernet(0x0800, B.ipv4("192.168.77.11", "192.168.77.99", protocol: 17, B.udp(51820, 51820, []))),
            B.ethernet(0x0800, B.ipv4("192.168.77.11", "192.168.77.11", protocol: 17, B.udp(51820, 51820, []))),
            B.ethernet(0x0800, B.ipv4("192.168.77.11", "192.168.77.12", protocol: 1, [8, 0, 0, 0])),
            B.ethernet(0x0800, B.ipv4("192.168.77.11", "192.168.77.12", protocol: 17, [1, 2, 3, 4], fragmentOffset: 1480)),
            B.ethernet(0x86dd, [UInt8](repeating: 0x60, count: 40)),
            B.ethernet(0x88cc, [1, 2, 3]),
            [0, 1, 2],
            B.arp,
        ])
        let violations = report.onlyWireGuard(port: 51820, nodeAddresses: Self.nodes)
        #expect(violations.map(\.frameIndex) == [0, 1, 2, 3, 4, 5, 6, 7, 8])
        #expect(violations[0].flow == WireReport.Flow(
            source: try IPAddress("10.244.1.2"), destination: try IPAddress("10.244.2.2"),
            ipProtocol: .tcp, sourcePort: 40000, destinationPort: 5555))
        #expect(violations[0].reason.contains("not UDP"))
        #expect(violations[1].reason.contains("does not use port 51820"))
        #expect(violations[2].reason.contains("not between two nodes"))
        #expect(violations[3].reason.contains("not between two nodes"))
        #expect(violations[5].reason.contains("fragment"))
        #expect(violations[6].reason == "IPv6 frame")
        #expect(report.otherFrames == 3)
    }

    @Test func findsAMarkerAnywhereInTheRawFrame() throws {
        let marker = Array("MESHLAB-MARKER".utf8)
        let report = try report([
            B.ethernet(0x0800, B.ipv4("10.244.1.2", "10.244.2.2", protocol: 17, B.udp(1, 2, Array("nothing here".utf8)))),
            B.ethernet(0x0800, B.ipv4("10.244.1.2", "10.244.2.2", protocol: 6, B.tcp(1, 2, Array("xxMESHLAB-MARKERyy".utf8)))),
            // Not parseable as IP at all: the search still looks at the bytes.
            B.ethernet(0x1234, Array("MESHLAB-MARKER".utf8)),
            // Cut one byte short of a match.
            B.ethernet(0x0800, B.ipv4("10.244.1.2", "10.244.2.2", protocol: 17, B.udp(1, 2, Array("MESHLAB-MARKE".utf8)))),
        ])
        #expect(report.framesContaining(marker: marker) == [1, 2])
        #expect(report.contains(marker: "MESHLAB-MARKER"))
        #expect(!report.contains(marker: "MESHLAB-MARKER-2"))
        #expect(!report.contains(marker: []))
        #expect(!WireReport([]).contains(marker: marker))
    }

    @Test func describesFlowsByCount() throws {
        let ping = B.ethernet(0x0800, B.ipv4("10.244.1.2", "10.244.2.2", protocol: 1, [8, 0, 0, 0]))
        let report = try report([ping, ping, B.ethernet(0x0800, B.ipv4("10.244.2.2", "10.244.1.2", protocol: 17, B.udp(9, 10, [])))])
        #expect(report.description == """
            3 frames: 3 IPv4, 0 ARP, 0 other
            IPv4 by protocol: icmp 2, udp 1
              2× icmp 10.244.1.2 -> 10.244.2.2
              1× udp 10.244.2.2:9 -> 10.244.1.2:10
            """)
    }
}
