import MeshCore

/// A summary of captured frames, and the checks behind the encryption proof: before
/// encryption the marker is on the wire; after it, only WireGuard UDP between nodes is.
public struct WireReport: Sendable, CustomStringConvertible {
    /// An IPv4 conversation in one direction. Ports are nil for ICMP, other protocols and
    /// non-first fragments.
    public struct Flow: Hashable, Sendable, Comparable, CustomStringConvertible {
        public let source: IPAddress
        public let destination: IPAddress
        public let ipProtocol: IPProtocol
        public let sourcePort: UInt16?
        public let destinationPort: UInt16?

        public init(source: IPAddress, destination: IPAddress, ipProtocol: IPProtocol,
                    sourcePort: UInt16? = nil, destinationPort: UInt16? = nil) {
            self.source = source
            self.destination = destination
            self.ipProtocol = ipProtocol
            self.sourcePort = sourcePort
            self.destinationPort = destinationPort
        }

        init(_ packet: IPv4Packet) {
            self.init(source: packet.source, destination: packet.destination, ipProtocol: packet.ipProtocol,
                      sourcePort: packet.transport.sourcePort, destinationPort: packet.transport.destinationPort)
        }

        public var description: String {
            let from = sourcePort.map { "\(source):\($0)" } ?? "\(source)"
            let to = destinationPort.map { "\(destination):\($0)" } ?? "\(destination)"
            return "\(ipProtocol) \(from) -> \(to)"
        }

        public static func < (a: Flow, b: Flow) -> Bool {
            (a.source, a.destination, a.ipProtocol.number, a.sourcePort ?? 0, a.destinationPort ?? 0)
                < (b.source, b.destination, b.ipProtocol.number, b.sourcePort ?? 0, b.destinationPort ?? 0)
        }
    }

    /// A frame that breaks ``onlyWireGuard(port:nodeAddresses:)``.
    public struct Violation: Hashable, Sendable, CustomStringConvertible {
        /// Index of the frame in the capture.
        public let frameIndex: Int
        /// The frame's IPv4 flow, when it has one.
        public let flow: Flow?
        public let reason: String

        public var description: String { "frame \(frameIndex): \(reason)" }
    }

    public let frames: [CapturedFrame]

    public init(_ frames: [CapturedFrame]) { self.frames = frames }

    public var totalFrames: Int { frames.count }
    /// ARP is how nodes find each other on the underlay; it is counted, never a violation.
    public var arpFrames: Int { frames.count(where: { $0.content == .arp }) }
    public var ipv4Packets: Int { frames.count(where: { $0.ipv4 != nil }) }
    /// Frames that are neither ARP nor IPv4 (IPv6, other EtherTypes, malformed frames).
    public var otherFrames: Int { totalFrames - arpFrames - ipv4Packets }

    public var ipv4ByProtocol: [IPProtocol: Int] {
        frames.compactMap(\.ipv4).reduce(into: [:]) { $0[$1.ipProtocol, default: 0] += 1 }
    }

    /// Every IPv4 flow, with its packet count.
    public var flows: [Flow: Int] {
        frames.compactMap(\.ipv4).reduce(into: [:]) { $0[Flow($1), default: 0] += 1 }
    }

    /// True when `marker` occurs in the raw bytes of any frame (headers included, so nothing
    /// escapes the search by being mislabelled). An empty marker is never found.
    public func contains(marker: [UInt8]) -> Bool { !framesContaining(marker: marker).isEmpty }

    public func contains(marker: String) -> Bool { contains(marker: Array(marker.utf8)) }

    /// Indices of the frames whose raw bytes contain `marker`.
    public func framesContaining(marker: [UInt8]) -> [Int] {
        guard let first = marker.first else { return [] }
        return frames.filter { frame in
            let bytes = frame.bytes
            guard bytes.count >= marker.count else { return false }
            var i = 0
            while i <= bytes.count - marker.count {
                if bytes[i] == first && bytes[i..<(i + marker.count)].elementsEqual(marker) { return true }
                i += 1
            }
            return false
        }.map(\.index)
    }

    /// Every frame that is not WireGuard between nodes: an IPv4 packet is allowed only when it
    /// is UDP, its source and destination are two different addresses of `nodeAddresses`, and
    /// its source or destination port is `port`. ARP frames are allowed. Anything else is a
    /// violation, IPv6 and unknown or malformed frames included (the lab disables IPv6, so any
    /// is a leak), and so are non-first IPv4 fragments, which carry no ports to check. An empty
    /// list is the proof that the wire carried nothing else.
    ///
    /// `controlPlane` names TCP endpoints (a datastore on the underlay) that nodes may talk to
    /// outside the tunnel: a TCP packet between a node address and one of them is allowed. The
    /// marker check (``framesContaining(marker:)``) still covers those frames.
    public func onlyWireGuard(port: UInt16, nodeAddresses: Set<IPAddress>,
                              controlPlane: Set<ControlPlaneEndpoint> = []) -> [Violation] {
        var violations: [Violation] = []
        for frame in frames {
            switch frame.content {
            case .arp:
                continue
            case .ipv6:
                violations.append(Violation(frameIndex: frame.index, flow: nil, reason: "IPv6 frame"))
            case .other(let type):
                violations.append(Violation(frameIndex: frame.index, flow: nil,
                                            reason: "EtherType 0x\(String(type, radix: 16))"))
            case .malformed(let why):
                violations.append(Violation(frameIndex: frame.index, flow: nil, reason: "malformed frame: \(why)"))
            case .ipv4(let packet):
                let flow = Flow(packet)
                var reason: String?
                if isControlPlane(packet, nodeAddresses: nodeAddresses, endpoints: controlPlane) {
                    continue
                } else if packet.ipProtocol != .udp {
                    reason = "\(flow) is not UDP"
                } else if !nodeAddresses.contains(packet.source) || !nodeAddresses.contains(packet.destination)
                            || packet.source == packet.destination {
                    reason = "\(flow) is not between two nodes"
                } else if case .fragment(let offset) = packet.transport {
                    reason = "\(flow) is a fragment at offset \(offset), without ports"
                } else if packet.transport.sourcePort != port && packet.transport.destinationPort != port {
                    reason = packet.transport == .truncated
                        ? "\(flow) has a truncated UDP header" : "\(flow) does not use port \(port)"
                }
                if let reason { violations.append(Violation(frameIndex: frame.index, flow: flow, reason: reason)) }
            }
        }
        return violations
    }

    /// The number of frames that are TCP between a node and one of `endpoints`.
    public func controlPlaneFrames(nodeAddresses: Set<IPAddress>, endpoints: Set<ControlPlaneEndpoint>) -> Int {
        frames.filter {
            if case .ipv4(let packet) = $0.content { return isControlPlane(packet, nodeAddresses: nodeAddresses, endpoints: endpoints) }
            return false
        }.count
    }

    private func isControlPlane(_ packet: IPv4Packet, nodeAddresses: Set<IPAddress>, endpoints: Set<ControlPlaneEndpoint>) -> Bool {
        guard packet.ipProtocol == .tcp, !endpoints.isEmpty else { return false }
        let (source, destination) = (packet.transport.sourcePort, packet.transport.destinationPort)
        if let source, nodeAddresses.contains(packet.destination),
           endpoints.contains(ControlPlaneEndpoint(address: packet.source, port: source)) { return true }
        if let destination, nodeAddresses.contains(packet.source),
           endpoints.contains(ControlPlaneEndpoint(address: packet.destination, port: destination)) { return true }
        return false
    }

    /// A few lines for a terminal or a test failure: counts, then flows by packet count.
    public var description: String {
        var lines = ["\(totalFrames) frames: \(ipv4Packets) IPv4, \(arpFrames) ARP, \(otherFrames) other"]
        let byProtocol = ipv4ByProtocol.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
        if !byProtocol.isEmpty { lines.append("IPv4 by protocol: " + byProtocol.joined(separator: ", ")) }
        for (flow, count) in flows.sorted(by: { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }) {
            lines.append("  \(count)× \(flow)")
        }
        return lines.joined(separator: "\n")
    }
}

/// A TCP service on the underlay that nodes reach outside the tunnel (the datastore).
public struct ControlPlaneEndpoint: Hashable, Sendable, CustomStringConvertible {
    public let address: IPAddress
    public let port: UInt16
    public init(address: IPAddress, port: UInt16) {
        self.address = address
        self.port = port
    }
    public var description: String { "\(address):\(port)" }
}
