import Foundation
import MeshCodec
import MeshCore
import Testing

/// The status writer gives JSONEncoder's bytes (sorted keys, `.withoutEscapingSlashes`) for
/// every shape of status: with and without optionals, no peers and many, strings that need
/// every kind of escape, and times with and without fractions.
@Suite struct EncodeStatus {
    func generic(_ status: NodeStatusRecord) -> [UInt8] {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return Array(try! encoder.encode(status))
    }

    func status(peers: [NodeStatusRecord.Peer], backend: WireGuardBackendKind? = .userspace, lastError: String? = nil,
                updatedAt: Double = 1_764_547_200.25) -> NodeStatusRecord {
        NodeStatusRecord(node: "n1", backend: backend, interface: "meshguard0", enabled: true, strict: false,
                         publicKeyFingerprint: "+ZVpIsbq", peers: peers, appliedRevision: 1234, inSync: true,
                         lastError: lastError, updatedAt: Timestamp(seconds: updatedAt))
    }

    func with(_ record: NodeStatusRecord, totals: NodeStatusRecord.PeerTotals?, incomplete: [String]?) -> NodeStatusRecord {
        var record = record
        record.totals = totals
        record.incompletePeers = incomplete
        return record
    }

    func peer(_ i: Int, handshake: Double? = nil, endpoint: String? = "192.168.77.12:51830") -> NodeStatusRecord.Peer {
        NodeStatusRecord.Peer(node: "n\(i)", publicKeyFingerprint: "ab/c+\(i)", endpoint: endpoint,
                              allowedIPs: ["10.244.\(i).0/24", "fd00:\(i)::/64"], lastHandshake: handshake.map { Timestamp(seconds: $0) },
                              rxBytes: UInt64(i) * 1_000_003, txBytes: UInt64.max - UInt64(i))
    }

    @Test(arguments: [
        "plain",
        "quote \" and backslash \\ and slash /",
        "newline\nreturn\rtab\tbackspace\u{08}formfeed\u{0C}",
        "controls \u{00}\u{01}\u{1F}\u{7F}",
        "non-ASCII: Knoten für Schlüssel, 鍵, 🔑",
        "",
    ])
    func stringsAreEscapedAsJSONEncoderDoes(_ text: String) throws {
        let record = status(peers: [peer(2)], lastError: text)
        #expect(RecordCodec.encode(record) == generic(record))
        #expect(try RecordCodec.decode(NodeStatusRecord.self, from: RecordCodec.encode(record), key: "k") == record)
    }

    @Test(arguments: [0.0, 1.0, 1_764_547_200, 1_764_547_200.25, 1_764_547_200.123456, 0.000001, 1e21, 123456789012345680000])
    func timesAreWrittenAsJSONEncoderDoes(_ seconds: Double) throws {
        let record = status(peers: [peer(2, handshake: seconds)], updatedAt: seconds)
        #expect(RecordCodec.encode(record) == generic(record), "\(seconds)")
        #expect(try RecordCodec.decode(NodeStatusRecord.self, from: RecordCodec.encode(record), key: "k") == record)
    }

    @Test func everyShapeMatches() throws {
        let shapes = [
            status(peers: []),
            status(peers: [], backend: nil, lastError: nil),
            status(peers: [peer(2, handshake: nil, endpoint: nil)]),
            status(peers: (2..<300).map { peer($0, handshake: $0.isMultiple(of: 3) ? nil : 1_764_547_000 + Double($0) / 7) },
                   backend: .kernel, lastError: "apply failed: \"x\""),
            // A large mesh: totals only, with and without peers it could not program.
            with(status(peers: []), totals: .init(count: 999, listed: false, latestHandshake: Timestamp(seconds: 1_764_547_000.5),
                                                  rxBytes: .max, txBytes: 0), incomplete: ["n7", "n\"8"]),
            with(status(peers: []), totals: .init(count: 5, listed: false, latestHandshake: nil, rxBytes: 1, txBytes: 2), incomplete: []),
            // A status decoded from an agent that wrote no totals.
            with(status(peers: [peer(2)]), totals: nil, incomplete: nil),
        ]
        for record in shapes {
            #expect(RecordCodec.encode(record) == generic(record))
            #expect(try RecordCodec.decode(NodeStatusRecord.self, from: RecordCodec.encode(record), key: "k") == record)
        }
    }
}
