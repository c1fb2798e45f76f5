import MeshCore
import MeshTestKit
import Testing

@Suite struct ClusterReportTests {
    func peer(_ n: Int) -> PeerRecord {
        PeerRecord(node: "n\(n)", publicKey: PublicKey.fixture("n\(n)").base64, keyGeneration: 1, endpoint: "192.168.77.1\(n):51830",
                   allowedIPs: ["10.244.\(n).0/24"], claimRevision: 1)
    }
    func claim(_ n: Int) -> ClaimRecord {
        ClaimRecord(node: "n\(n)", publicKey: PublicKey.fixture("n\(n)").base64, address: "192.168.77.1\(n)", listenPort: 51830,
                    podCIDRs: ["10.244.\(n).0/24"])
    }
    func status(_ n: Int, peers: [Int], enabled: Bool = true) -> NodeStatusRecord {
        NodeStatusRecord(node: "n\(n)", backend: .userspace, interface: "meshguard0", enabled: enabled, strict: false,
                         publicKeyFingerprint: PublicKey.fixture("n\(n)").fingerprint,
                         peers: peers.map { .init(node: "n\($0)", publicKeyFingerprint: PublicKey.fixture("n\($0)").fingerprint, endpoint: nil,
                                                  allowedIPs: [], lastHandshake: Timestamp(seconds: 100), rxBytes: 10, txBytes: 20) },
                         appliedRevision: 5, inSync: true, lastError: nil, updatedAt: Timestamp(seconds: 100))
    }

    @Test func classifiesNodesAndPaths() {
        let records = ClusterRecords(
            config: ClusterConfig(enabled: true, strict: false), pools: ["10.244.0.0/16"], leader: LeaderRecord(identity: "c1", since: Timestamp(seconds: 0)),
            claims: [String: ClaimRecord](uniqueKeysWithValues: [1, 2].map { ("n\($0)", claim($0)) }),
            claimKeys: ["n1", "n2", "n4"],
            peers: ["n1": peer(1), "n2": peer(2), "n3": peer(3)],
            verdicts: ["n4": VerdictRecord(node: "n4", state: .rejected, reasons: ["not valid JSON"], claimRevision: 9)],
            statuses: ["n1": status(1, peers: [2, 3]), "n2": status(2, peers: [1])])
        let report = buildClusterReport(records)
        #expect(report.nodes.map(\.name) == ["n1", "n2", "n3", "n4"])
        #expect(report.nodes.map(\.standing) == [.accepted, .accepted, .silent, .rejected])
        #expect(report.nodes[3].reasons == ["not valid JSON"] && report.nodes[3].agentRunning)
        #expect(report.nodes[0].peersProgrammed == 2 && report.nodes[0].peersExpected == 2)
        #expect(report.controller == "c1")
        // n1→n2, n1→n3, n2→n1 encrypted; n2→n3 not programmed; n3 reports nothing; n4 has no key.
        #expect(report.encryptedPaths == 3)
        #expect(Set(report.plaintextPaths.map { "\($0.from)→\($0.to)" }) == ["n2→n3", "n1→n4", "n2→n4", "n3→n4"])
        #expect(Set(report.unverifiedPaths.map { "\($0.from)→\($0.to)" }) == ["n3→n1", "n3→n2", "n4→n1", "n4→n2", "n4→n3"])
    }

    @Test func strictTurnsPlaintextIntoBlocked() {
        var records = ClusterRecords(config: ClusterConfig(enabled: true, strict: true), pools: [], leader: nil,
                                     claims: ["n1": claim(1), "n2": claim(2)], peers: ["n1": peer(1)], verdicts: [:],
                                     statuses: ["n1": status(1, peers: [])])
        var report = buildClusterReport(records)
        #expect(report.plaintextPaths.isEmpty)
        #expect(report.blockedPaths.map { "\($0.from)→\($0.to)" } == ["n1→n2"])
        records.config = ClusterConfig(enabled: false, strict: true)
        report = buildClusterReport(records)
        #expect(report.plaintextPaths.count == 2 && report.encryptedPaths == 0)
    }

    /// A status that lists no peers (more than the agent's `--status-peer-limit`): n1's path to
    /// each peer is judged by the revision n1 applied against that peer record's last write.
    @Test(arguments: [
        // (n1's applied revision, n1's incomplete peers, n1 enabled) → the paths from n1 not encrypted
        (applied: 7, incomplete: nil, enabled: true, open: [String]()),
        (applied: 6, incomplete: nil, enabled: true, open: ["n1→n3: n1 has not applied n3's record yet"]),
        (applied: 4, incomplete: nil, enabled: true, open: ["n1→n2: n1 has not applied n2's record yet",
                                                            "n1→n3: n1 has not applied n3's record yet"]),
        (applied: 9, incomplete: ["n2"], enabled: true, open: ["n1→n2: n1 could not program n2's record (see its agent's log)"]),
        (applied: 9, incomplete: [], enabled: false, open: ["n1→n2: n1 has encryption off", "n1→n3: n1 has encryption off"]),
    ] as [(applied: Revision, incomplete: [String]?, enabled: Bool, open: [String])])
    func unlistedPeersAreJudgedByTheAppliedRevision(_ c: (applied: Revision, incomplete: [String]?, enabled: Bool, open: [String])) {
        var n1 = status(1, peers: [], enabled: c.enabled)
        n1.totals = .init(count: 2, listed: false, latestHandshake: Timestamp(seconds: 300), rxBytes: 7, txBytes: 9)
        n1.incompletePeers = c.incomplete
        n1.appliedRevision = c.applied
        let records = ClusterRecords(config: ClusterConfig(enabled: true, strict: false), pools: [], leader: nil,
                                     claims: ["n1": claim(1), "n2": claim(2), "n3": claim(3)],
                                     peers: ["n1": peer(1), "n2": peer(2), "n3": peer(3)],
                                     peerRevisions: ["n1": 3, "n2": 5, "n3": 7], verdicts: [:],
                                     statuses: ["n1": n1, "n2": status(2, peers: [1, 3]), "n3": status(3, peers: [1, 2])])
        let report = buildClusterReport(records)
        #expect(report.plaintextPaths.map { "\($0.from)→\($0.to): \($0.reason)" } == c.open)
        #expect(report.encryptedPaths == 6 - c.open.count)
        // The node's row shows the totals, not the (empty) list.
        #expect(report.nodes[0].peersProgrammed == 2)
        #expect(report.nodes[0].latestHandshake == Timestamp(seconds: 300))
        #expect(report.nodes[0].rxBytes == 7 && report.nodes[0].txBytes == 9)
    }

    /// Without a recorded revision for the peer, an unlisted path is never counted as encrypted.
    @Test func anUnlistedPeerWithoutARevisionIsNotEncrypted() {
        var n1 = status(1, peers: [])
        n1.totals = .init(count: 1, listed: false, latestHandshake: nil, rxBytes: 0, txBytes: 0)
        n1.appliedRevision = .max
        let records = ClusterRecords(config: ClusterConfig(enabled: true, strict: false), pools: [], leader: nil,
                                     claims: ["n1": claim(1), "n2": claim(2)], peers: ["n1": peer(1), "n2": peer(2)],
                                     verdicts: [:], statuses: ["n1": n1, "n2": status(2, peers: [1])])
        #expect(buildClusterReport(records).plaintextPaths.map(\.to) == ["n2"])
    }
}
