import MeshCore
@testable import MeshLab
import Testing

/// Hand-built pcap files: the parser is checked against bytes laid out by the format, not
/// against tcpdump's output.
enum PcapBytes {
    static func u16(_ v: UInt16, big: Bool = true) -> [UInt8] {
        big ? [UInt8(v >> 8), UInt8(v & 0xff)] : [UInt8(v & 0xff), UInt8(v >> 8)]
    }

    static func u32(_ v: UInt32, big: Bool) -> [UInt8] {
        let b = [UInt8(v >> 24), UInt8(v >> 16 & 0xff), UInt8(v >> 8 & 0xff), UInt8(v & 0xff)]
        return big ? b : b.reversed()
    }

    static func file(_ records: [[UInt8]], bigEndian: Bool = false, nanoseconds: Bool = false,
                     linkType: UInt32 = 1, snapLength: UInt32 = 262_144, originalLengths: [Int]? = nil) -> [UInt8] {
        var out = u32(nanoseconds ? 0xa1b2_3c4d : 0xa1b2_c3d4, big: bigEndian)
        out += u16(2, big: bigEndian) + u16(4, big: bigEndian)
        out += u32(0, big: bigEndian) + u32(0, big: bigEndian) + u32(snapLength, big: bigEndian) + u32(linkType, big: bigEndian)
        for (i, record) in records.enumerated() {
            out += u32(1_700_000_000 + UInt32(i), big: bigEndian) + u32(1234, big: bigEndian)
            out += u32(UInt32(record.count), big: bigEndian)
            out += u32(UInt32(originalLengths?[i] ?? record.count), big: bigEndian)
            out += record
        }
        return out
    }

    static let macA: [UInt8] = [0x02, 0, 0, 0, 0, 0x0a]
    static let macB: [UInt8] = [0x02, 0, 0, 0, 0, 0x0b]

    static func ethernet(_ type: UInt16, _ payload: [UInt8], vlan: UInt16? = nil) -> [UInt8] {
        var frame = macB + macA
        if let vlan { frame += u16(0x8100) + u16(vlan) }
        return frame + u16(type) + payload
    }

    static func ipv4(_ source: String, _ destination: String, protocol number: UInt8, _ payload: [UInt8],
                     fragmentOffset: UInt16 = 0, headerWords: UInt8 = 5) -> [UInt8] {
        let options = [UInt8](repeating: 1, count: (Int(headerWords) - 5) * 4)
        let total = UInt16(Int(headerWords) * 4 + payload.count)
        var header: [UInt8] = [0x40 | headerWords, 0] + u16(total) + u16(0x1234) + u16(fragmentOffset / 8) + [64, number, 0, 0]
        header += (try! IPAddress(source)).bytes + (try! IPAddress(destination)).bytes
        return header + options + payload
    }

    static func udp(_ source: UInt16, _ destination: UInt16, _ payload: [UInt8]) -> [UInt8] {
        u16(source) + u16(destination) + u16(UInt16(8 + payload.count)) + [0, 0] + payload
    }

    static func tcp(_ source: UInt16, _ destination: UInt16, flags: UInt8 = 0x18, _ payload: [UInt8]) -> [UInt8] {
        u16(source) + u16(destination) + [0, 0, 0, 1] + [0, 0, 0, 0] + [0x50, flags] + u16(65535) + [0, 0, 0, 0] + payload
    }

    static let arp: [UInt8] = ethernet(0x0806, u16(1) + u16(0x0800) + [6, 4] + u16(1) + macA + [192, 168, 77, 11]
                                       + [UInt8](repeating: 0, count: 6) + [192, 168, 77, 12])
}

@Suite struct PcapTests {
    typealias B = PcapBytes

    @Test func parsesEthernetIPv4UDPTCPICMPAndARP() throws {
        let marker = Array("MARKER-1".utf8)
        let records = [
            B.ethernet(0x0800, B.ipv4("192.168.77.11", "192.168.77.12", protocol: 17, B.udp(51820, 40000, [1, 2, 3]))),
            B.ethernet(0x0800, B.ipv4("10.244.1.2", "10.244.2.2", protocol: 6, B.tcp(40001, 5555, marker))),
            B.ethernet(0x0800, B.ipv4("10.244.1.2", "10.244.2.2", protocol: 1, [8, 0, 0, 0, 0, 1, 0, 1])),
            B.arp,
        ]
        let frames = try Pcap.parse(B.file(records))
        #expect(frames.count == 4)
        #expect(frames.map(\.index) == [0, 1, 2, 3])
        #expect(frames[0].seconds == 1_700_000_000)
        #expect(frames[0].nanoseconds == 1_234_000)

        let udp = try #require(frames[0].ipv4)
        #expect(udp.source == (try IPAddress("192.168.77.11")))
        #expect(udp.destination == (try IPAddress("192.168.77.12")))
        #expect(udp.ipProtocol == .udp)
        #expect(udp.ttl == 64)
        #expect(udp.transport == .udp(sourcePort: 51820, destinationPort: 40000, payload: [1, 2, 3][...]))

        let tcp = try #require(frames[1].ipv4)
        guard case .tcp(let sport, let dport, let flags, let payload) = tcp.transport else {
            Issue.record("not TCP: \(tcp.transport)")
            return
        }
        #expect((sport, dport, flags) == (40001, 5555, 0x18))
        #expect(Array(payload) == marker)

        #expect(frames[2].ipv4?.transport == .icmp(type: 8, code: 0))
        #expect(frames[3].content == .arp)
    }

    @Test func readsBigEndianAndNanosecondFiles() throws {
        let frame = B.ethernet(0x0800, B.ipv4("1.2.3.4", "5.6.7.8", protocol: 17, B.udp(1, 2, [])))
        for big in [false, true] {
            for nano in [false, true] {
                let frames = try Pcap.parse(B.file([frame, frame], bigEndian: big, nanoseconds: nano))
                #expect(frames.count == 2)
                #expect(frames[1].seconds == 1_700_000_001)
                #expect(frames[1].nanoseconds == (nano ? 1234 : 1_234_000))
                #expect(frames[0].ipv4?.transport.destinationPort == 2)
            }
        }
    }

    @Test func anEmptyCaptureHasNoFrames() throws {
        #expect(try Pcap.parse(B.file([])).isEmpty)
    }

    @Test func skipsVLANTagsAndEthernetPadding() throws {
        // A 3-byte UDP payload in a frame padded to 60 bytes: the padding is not payload.
        var frame = B.ethernet(0x0800, B.ipv4("1.2.3.4", "5.6.7.8", protocol: 17, B.udp(7, 9, [0xaa, 0xbb, 0xcc])), vlan: 5)
        frame += [UInt8](repeating: 0, count: 60 - frame.count)
        let packet = try #require(try Pcap.parse(B.file([frame]))[0].ipv4)
        #expect(packet.transport == .udp(sourcePort: 7, destinationPort: 9, payload: [0xaa, 0xbb, 0xcc][...]))
        #expect(packet.totalLength == 20 + 8 + 3)
    }

    @Test func honoursIPOptionsAndFragments() throws {
        let withOptions = B.ethernet(0x0800, B.ipv4("1.2.3.4", "5.6.7.8", protocol: 17, B.udp(10, 20, [1]), headerWords: 6))
        let fragment = B.ethernet(0x0800, B.ipv4("1.2.3.4", "5.6.7.8", protocol: 17, [1, 2, 3, 4, 5, 6, 7, 8], fragmentOffset: 1480))
        let frames = try Pcap.parse(B.file([withOptions, fragment]))
        #expect(frames[0].ipv4?.transport == .udp(sourcePort: 10, destinationPort: 20, payload: [1][...]))
        #expect(frames[1].ipv4?.transport == .fragment(offset: 1480))
    }

    @Test func malformedFramesAreReportedNotThrown() throws {
        let short: [UInt8] = [1, 2, 3]
        let badVersion = B.ethernet(0x0800, [0x65] + [UInt8](repeating: 0, count: 19))
        let badHeaderLength = B.ethernet(0x0800, [0x4f] + [UInt8](repeating: 0, count: 19))
        let cutTCP = B.ethernet(0x0800, Array(B.ipv4("1.2.3.4", "5.6.7.8", protocol: 6, B.tcp(1, 2, [])).prefix(30)))
        let frames = try Pcap.parse(B.file([short, badVersion, badHeaderLength, cutTCP]))
        #expect(frames.count == 4)
        for frame in frames.prefix(3) {
            guard case .malformed = frame.content else {
                Issue.record("frame \(frame.index) parsed as \(frame.content)")
                continue
            }
        }
        #expect(frames[3].ipv4?.transport == .truncated)
    }

    @Test func snapLengthCutFramesKeepTheirOriginalLength() throws {
        let frame = B.ethernet(0x0800, B.ipv4("1.2.3.4", "5.6.7.8", protocol: 17, B.udp(1, 2, [UInt8](repeating: 7, count: 100))))
        let cut = Array(frame.prefix(60))
        let parsed = try Pcap.parse(B.file([cut], snapLength: 60, originalLengths: [frame.count]))[0]
        #expect(parsed.bytes.count == 60)
        #expect(parsed.originalLength == frame.count)
        guard case .udp(_, _, let payload) = parsed.ipv4?.transport else {
            Issue.record("not UDP: \(parsed.content)")
            return
        }
        #expect(payload.count == 60 - 14 - 20 - 8)
    }

    @Test(arguments: [0, 1, 10, 23])
    func aFileShorterThanItsHeaderIsAnError(length: Int) {
        let bytes = Array(B.file([]).prefix(length))
        #expect(throws: MeshError.self) { try Pcap.parse(bytes) }
    }

    @Test func truncatedRecordsAreErrorsAtEveryCut() throws {
        let frame = B.ethernet(0x0800, B.ipv4("1.2.3.4", "5.6.7.8", protocol: 17, B.udp(1, 2, [9, 9, 9])))
        let whole = B.file([frame, frame])
        // Every cut inside the second record (its header or its data) must be an error, never a
        // crash nor a silently shorter capture.
        let secondStart = 24 + 16 + frame.count
        for cut in (secondStart + 1)..<whole.count {
            do {
                let frames = try Pcap.parse(Array(whole.prefix(cut)))
                Issue.record("cut at \(cut) of \(whole.count) parsed as \(frames.count) frames")
            } catch {
                #expect(error.code == .invalidArgument)
                #expect(error.message.contains("cut short"))
            }
        }
        #expect(try Pcap.parse(Array(whole.prefix(secondStart))).count == 1)
        #expect(try Pcap.parse(whole).count == 2)
    }

    @Test func rejectsOtherFormats() {
        var pcapng = B.file([])
        pcapng.replaceSubrange(0..<4, with: [0x0a, 0x0d, 0x0d, 0x0a])
        #expect(throws: MeshError.self) { try Pcap.parse(pcapng) }
        var garbage = B.file([])
        garbage.replaceSubrange(0..<4, with: [0xde, 0xad, 0xbe, 0xef])
        #expect(throws: MeshError.self) { try Pcap.parse(garbage) }
        var version = B.file([])
        version.replaceSubrange(4..<6, with: [3, 0])
        #expect(throws: MeshError.self) { try Pcap.parse(version) }
        #expect(throws: MeshError.self) { try Pcap.parse(B.file([], linkType: 113)) }
        // A record claiming more than any snapshot length is corrupt, not a 4 GB allocation.
        var huge = B.file([[1, 2, 3]])
        huge.replaceSubrange((24 + 8)..<(24 + 12), with: [0xff, 0xff, 0xff, 0x7f])
        #expect(throws: MeshError.self) { try Pcap.parse(huge) }
    }

    @Test func aMissingFileIsNotFound() {
        #expect(throws: MeshError(.notFound, "pcap: cannot read /nonexistent/meshlab.pcap")) {
            try Pcap.read(path: "/nonexistent/meshlab.pcap")
        }
    }
}
