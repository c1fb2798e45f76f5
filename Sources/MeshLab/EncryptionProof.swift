public import MeshCore

/// The outcome of sending a known marker between two pods on different nodes while capturing
/// on the fabric: what was on the wire, and whether it was only WireGuard.
public struct WireEvidence: Sendable, CustomStringConvertible {
    public let from: LabPod
    public let to: LabPod
    public let marker: String
    public let stream: TCPStreamResult
    public let report: WireReport
    /// Frames that carried the marker in clear.
    public let markerFrames: [Int]
    /// IPv4 packets that were not UDP between node addresses on the WireGuard port (nor TCP
    /// between a node and a control-plane endpoint).
    public let violations: [WireReport.Violation]
    /// Frames of node ↔ control-plane (datastore) TCP, allowed and counted apart; the marker
    /// check covers them too.
    public let controlPlaneFrames: Int

    public var markerSeen: Bool { !markerFrames.isEmpty }
    /// True when the transfer arrived intact and the wire held nothing but WireGuard.
    public var encrypted: Bool { stream.intact && stream.bytesReceived > 0 && !markerSeen && violations.isEmpty && report.ipv4Packets > 0 }

    public var description: String {
        var lines = ["\(from.name) (\(from.address)) → \(to.name) (\(to.address)): \(stream)",
                     "  on the fabric: \(report.totalFrames) frames, \(report.ipv4Packets) IPv4 packets, \(report.arpFrames) ARP"]
        for (flow, count) in report.flows.sorted(by: { $0.key < $1.key }).prefix(12) { lines.append("    \(flow): \(count)") }
        lines.append("  marker \"\(marker)\" seen in clear: \(markerSeen ? "YES, in \(markerFrames.count) frames" : "no")")
        if controlPlaneFrames > 0 { lines.append("  node ↔ datastore frames (control plane, outside the tunnel): \(controlPlaneFrames)") }
        lines.append("  packets other than WireGuard UDP between nodes: \(violations.count)")
        for v in violations.prefix(5) { lines.append("    \(v)") }
        return lines.joined(separator: "\n")
    }
}

extension Lab {
    /// Streams `marker` from `from` to `to` over TCP for `duration` while capturing on br0.
    /// `controlPlane`: TCP endpoints on the underlay the nodes may reach in clear (a datastore
    /// in the fabric namespace); everything else must be WireGuard between nodes.
    public func captureTransfer(from: LabPod, to: LabPod, marker: String, port: UInt16 = 7777,
                                wireGuardPort: UInt16, controlPlane: Set<ControlPlaneEndpoint> = [],
                                duration: Duration = .seconds(2)) throws(MeshError) -> WireEvidence {
        let capture = try startCapture()
        let stream: TCPStreamResult
        do {
            stream = try tcpStream(from: from, to: to, port: port, marker: Array(marker.utf8), duration: duration)
        } catch {
            _ = try? capture.stop()
            throw error
        }
        let report = WireReport(try capture.stop())
        return WireEvidence(from: from, to: to, marker: marker, stream: stream, report: report,
                            markerFrames: report.framesContaining(marker: Array(marker.utf8)),
                            violations: report.onlyWireGuard(port: wireGuardPort, nodeAddresses: nodeAddresses, controlPlane: controlPlane),
                            controlPlaneFrames: report.controlPlaneFrames(nodeAddresses: nodeAddresses, endpoints: controlPlane))
    }

    /// Pings every pod of `among` (default: every node) from every other; returns the pairs that
    /// lost packets (empty: all reach all). A pair that cannot answer costs the whole reply
    /// timeout (15 s under emulation), so leave out nodes that are expected to be unreachable
    /// rather than filtering their failures afterwards.
    public func pingAll(count: Int = 3, interval: Duration = .milliseconds(50), among: [LabNode]? = nil) throws(MeshError)
        -> [(LabPod, LabPod, PingResult)] {
        let pods = among.map { $0.flatMap(\.pods) } ?? self.pods
        var failures: [(LabPod, LabPod, PingResult)] = []
        for a in pods {
            for b in pods where a != b {
                let result = try ping(from: a, to: b.address, count: count, interval: interval)
                if result.received < result.transmitted { failures.append((a, b, result)) }
            }
        }
        return failures
    }
}
