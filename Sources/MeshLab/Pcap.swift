import Foundation
import MeshCore

/// An IP protocol number, with names for the ones the lab reports on.
public enum IPProtocol: Hashable, Sendable, Comparable, CustomStringConvertible {
    case icmp, tcp, udp
    case other(UInt8)

    public init(number: UInt8) {
        switch number {
        case 1: self = .icmp
        case 6: self = .tcp
        case 17: self = .udp
        default: self = .other(number)
        }
    }

    public var number: UInt8 {
        switch self {
        case .icmp: 1
        case .tcp: 6
        case .udp: 17
        case .other(let n): n
        }
    }

    public var description: String {
        switch self {
        case .icmp: "icmp"
        case .tcp: "tcp"
        case .udp: "udp"
        case .other(let n): "proto-\(n)"
        }
    }

    public static func < (a: IPProtocol, b: IPProtocol) -> Bool { a.number < b.number }
}

/// The transport part of an IPv4 packet, as far as the captured bytes show it.
public enum Transport: Hashable, Sendable {
    case udp(sourcePort: UInt16, destinationPort: UInt16, payload: ArraySlice<UInt8>)
    case tcp(sourcePort: UInt16, destinationPort: UInt16, flags: UInt8, payload: ArraySlice<UInt8>)
    case icmp(type: UInt8, code: UInt8)
    /// A fragment other than the first: it carries no transport header.
    case fragment(offset: Int)
    /// A protocol the parser does not look into.
    case other
    /// The transport header is cut short (by the snapshot length, or a malformed packet).
    case truncated

    public var sourcePort: UInt16? {
        switch self {
        case .udp(let port, _, _), .tcp(let port, _, _, _): port
        default: nil
        }
    }

    public var destinationPort: UInt16? {
        switch self {
        case .udp(_, let port, _), .tcp(_, let port, _, _): port
        default: nil
        }
    }
}

/// The parsed header of an IPv4 packet.
public struct IPv4Packet: Hashable, Sendable {
    public let source: IPAddress
    public let destination: IPAddress
    public let ipProtocol: IPProtocol
    public let ttl: UInt8
    /// The total length from the header (the packet on the wire, without Ethernet padding).
    public let totalLength: Int
    public let transport: Transport
}

/// What an Ethernet frame carries.
public enum FrameContent: Hashable, Sendable {
    case arp
    case ipv4(IPv4Packet)
    case ipv6
    /// Another EtherType (or an 802.3 length, for LLC frames such as STP BPDUs).
    case other(etherType: UInt16)
    /// The frame or its IPv4 header is not well formed; the reason says where.
    case malformed(String)
}

/// One record of a capture: the bytes as captured, and what they parse to.
public struct CapturedFrame: Hashable, Sendable {
    /// 0-based position in the capture.
    public let index: Int
    public let seconds: UInt32
    public let nanoseconds: UInt32
    /// The frame's length on the wire; `bytes` is shorter when the snapshot length cut it.
    public let originalLength: Int
    /// The raw frame, from the Ethernet destination address on.
    public let bytes: [UInt8]
    public let content: FrameContent

    /// Parses an Ethernet II frame (802.1Q/802.1ad tags skipped). A frame that does not parse
    /// is ``FrameContent/malformed(_:)``, never an error.
    public init(index: Int, seconds: UInt32, nanoseconds: UInt32, originalLength: Int, bytes: [UInt8]) {
        self.index = index
        self.seconds = seconds
        self.nanoseconds = nanoseconds
        self.originalLength = originalLength
        self.bytes = bytes
        content = Self.parseEthernet(bytes)
    }

    public var ipv4: IPv4Packet? {
        if case .ipv4(let packet) = content { return packet }
        return nil
    }

    private static func be16(_ b: [UInt8], _ at: Int) -> UInt16 { UInt16(b[at]) << 8 | UInt16(b[at + 1]) }

    private static func parseEthernet(_ b: [UInt8]) -> FrameContent {
        guard b.count >= 14 else { return .malformed("\(b.count) bytes, shorter than an Ethernet header") }
        var type = be16(b, 12)
        var offset = 14
        while type == 0x8100 || type == 0x88a8 {
            guard b.count >= offset + 4 else { return .malformed("VLAN tag cut short") }
            type = be16(b, offset + 2)
            offset += 4
        }
        switch type {
        case 0x0806: return .arp
        case 0x86dd: return .ipv6
        case 0x0800: return parseIPv4(b, offset)
        default: return .other(etherType: type)
        }
    }

    private static func parseIPv4(_ b: [UInt8], _ off: Int) -> FrameContent {
        guard b.count - off >= 20 else { return .malformed("IPv4 header cut short") }
        guard b[off] >> 4 == 4 else { return .malformed("IP version \(b[off] >> 4) in an IPv4 EtherType") }
        let headerLength = Int(b[off] & 0x0f) * 4
        guard headerLength >= 20, b.count - off >= headerLength else {
            return .malformed("IPv4 header length \(headerLength) does not fit")
        }
        let totalLength = Int(be16(b, off + 2))
        guard totalLength >= headerLength else { return .malformed("IPv4 total length \(totalLength) < header") }
        let fragmentOffset = Int(be16(b, off + 6) & 0x1fff) * 8
        let ipProtocol = IPProtocol(number: b[off + 9])
        let source = IPAddress.v4(UInt32(be16(b, off + 12)) << 16 | UInt32(be16(b, off + 14)))
        let destination = IPAddress.v4(UInt32(be16(b, off + 16)) << 16 | UInt32(be16(b, off + 18)))
        // Short frames are padded to 60 bytes on Ethernet; the IP length says where data ends.
        let end = min(b.count, off + totalLength)
        let l4 = off + headerLength
        let transport: Transport
        if fragmentOffset != 0 {
            transport = .fragment(offset: fragmentOffset)
        } else {
            switch ipProtocol {
            case .udp:
                transport = end - l4 >= 8
                    ? .udp(sourcePort: be16(b, l4), destinationPort: be16(b, l4 + 2), payload: b[(l4 + 8)..<end])
                    : .truncated
            case .tcp:
                let dataOffset = end - l4 >= 13 ? Int(b[l4 + 12] >> 4) * 4 : 0
                transport = dataOffset >= 20 && end - l4 >= dataOffset
                    ? .tcp(sourcePort: be16(b, l4), destinationPort: be16(b, l4 + 2), flags: b[l4 + 13],
                           payload: b[(l4 + dataOffset)..<end])
                    : .truncated
            case .icmp:
                transport = end - l4 >= 2 ? .icmp(type: b[l4], code: b[l4 + 1]) : .truncated
            case .other:
                transport = .other
            }
        }
        return .ipv4(IPv4Packet(source: source, destination: destination, ipProtocol: ipProtocol,
                                ttl: b[off + 8], totalLength: totalLength, transport: transport))
    }
}

/// Reads classic pcap files (what `tcpdump -w` writes): microsecond or nanosecond timestamps,
/// either byte order, Ethernet link type.
public enum Pcap {
    /// Parses a whole pcap file. A file with a header and no records is an empty capture.
    ///
    /// Errors (`.invalidArgument`, the message giving the byte offset): a file shorter than
    /// the 24-byte header, a record header or record data cut short (a capture stopped
    /// mid-write), an unknown magic number (pcapng included), a version other than 2.x, a link
    /// type other than Ethernet (1), a record longer than the snapshot length allows.
    public static func parse(_ data: [UInt8]) throws(MeshError) -> [CapturedFrame] {
        guard data.count >= 24 else {
            throw MeshError(.invalidArgument, "pcap: \(data.count) bytes, shorter than the 24-byte file header")
        }
        let littleEndian: Bool
        let nanosecond: Bool
        switch readU32(data, 0, littleEndian: true) {
        case 0xa1b2_c3d4: (littleEndian, nanosecond) = (true, false)
        case 0xa1b2_3c4d: (littleEndian, nanosecond) = (true, true)
        case 0xd4c3_b2a1: (littleEndian, nanosecond) = (false, false)
        case 0x4d3c_b2a1: (littleEndian, nanosecond) = (false, true)
        case 0x0a0d_0d0a:
            throw MeshError(.invalidArgument, "pcap: this is pcapng; capture with tcpdump -w (classic pcap)")
        case let magic:
            throw MeshError(.invalidArgument, "pcap: unknown magic number 0x\(String(magic, radix: 16))")
        }
        func u16(_ at: Int) -> UInt16 {
            littleEndian ? UInt16(data[at]) | UInt16(data[at + 1]) << 8 : UInt16(data[at]) << 8 | UInt16(data[at + 1])
        }
        func u32(_ at: Int) -> UInt32 { readU32(data, at, littleEndian: littleEndian) }

        guard u16(4) == 2 else { throw MeshError(.invalidArgument, "pcap: version \(u16(4)).\(u16(6)), expected 2.x") }
        let snapLength = Int(u32(16))
        // The top bits of the link-type field may carry FCS information.
        let linkType = u32(20) & 0x0fff_ffff
        guard linkType == 1 else {
            throw MeshError(.invalidArgument, "pcap: link type \(linkType) is not Ethernet (1)")
        }
        let maxRecord = max(snapLength, 262_144)

        var frames: [CapturedFrame] = []
        var offset = 24
        while offset < data.count {
            guard data.count - offset >= 16 else {
                throw MeshError(.invalidArgument,
                    "pcap: record \(frames.count) header at offset \(offset) cut short (\(data.count - offset) of 16 bytes)")
            }
            let seconds = u32(offset)
            let fraction = u32(offset + 4)
            let included = Int(u32(offset + 8))
            let original = Int(u32(offset + 12))
            guard included <= maxRecord else {
                throw MeshError(.invalidArgument,
                    "pcap: record \(frames.count) at offset \(offset) claims \(included) bytes (snapshot length \(snapLength))")
            }
            let start = offset + 16
            guard data.count - start >= included else {
                throw MeshError(.invalidArgument,
                    "pcap: record \(frames.count) at offset \(offset) cut short (\(data.count - start) of \(included) bytes)")
            }
            frames.append(CapturedFrame(index: frames.count, seconds: seconds,
                                        nanoseconds: nanosecond ? fraction : fraction &* 1000,
                                        originalLength: original, bytes: Array(data[start..<(start + included)])))
            offset = start + included
        }
        return frames
    }

    /// Reads and parses a pcap file. Errors: `.notFound` when it cannot be read, else as
    /// ``parse(_:)``.
    public static func read(path: String) throws(MeshError) -> [CapturedFrame] {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw MeshError(.notFound, "pcap: cannot read \(path)")
        }
        return try parse([UInt8](data))
    }

    private static func readU32(_ d: [UInt8], _ at: Int, littleEndian: Bool) -> UInt32 {
        let b = (UInt32(d[at]), UInt32(d[at + 1]), UInt32(d[at + 2]), UInt32(d[at + 3]))
        return littleEndian ? b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24 : b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3
    }
}
