import MeshCodec
import MeshCore
import MeshTestKit
import Testing

let pools: [IPPrefix] = [.must("10.244.0.0/16")]

func claim(_ node: String, key: String? = nil, address: String = "192.168.77.11", port: Int = 51830,
           cidrs: [String]) -> ClaimRecord {
    ClaimRecord(node: node, publicKey: key ?? PublicKey.fixture(node).base64, address: address, listenPort: port, podCIDRs: cidrs)
}

func input(_ record: ClaimRecord, revision: Revision) -> ClaimInput {
    ClaimInput(node: .must(record.node), record: .success(record), modRevision: revision, createRevision: revision)
}

struct BadClaimCase: Sendable, CustomTestStringConvertible {
    var name: String
    var record: ClaimRecord
    var reason: String
    var testDescription: String { name }
}

let badClaims: [BadClaimCase] = [
    BadClaimCase(name: "bad base64 key", record: claim("n2", key: "this is not base64", cidrs: ["10.244.2.0/24"]), reason: "publicKey: 'this is not base64' is not valid base64"),
    BadClaimCase(name: "31-byte key", record: claim("n2", key: Base64.encode([UInt8](repeating: 9, count: 31)), cidrs: ["10.244.2.0/24"]), reason: "decodes to 31"),
    BadClaimCase(name: "33-byte key", record: claim("n2", key: Base64.encode([UInt8](repeating: 9, count: 33)), cidrs: ["10.244.2.0/24"]), reason: "decodes to 33"),
    BadClaimCase(name: "all-zero key", record: claim("n2", key: Base64.encode([UInt8](repeating: 0, count: 32)), cidrs: ["10.244.2.0/24"]), reason: "publicKey: the key is all zeros"),
    BadClaimCase(name: "reserved placeholder key", record: claim("n2", key: placeholderPeerKey.base64, cidrs: ["10.244.2.0/24"]), reason: "reserved"),
    BadClaimCase(name: "pod CIDR outside the pools", record: claim("n2", cidrs: ["10.99.0.0/24"]), reason: "10.99.0.0/24 is outside the pod CIDR pools (10.244.0.0/16)"),
    BadClaimCase(name: "0.0.0.0/0 claimed", record: claim("n2", cidrs: ["0.0.0.0/0"]), reason: "0.0.0.0/0 claims the whole address space"),
    BadClaimCase(name: "10,000 CIDRs", record: claim("n2", cidrs: (0..<10_000).map { "10.244.\($0 % 256).\($0 / 256)/32" }), reason: "lists 10000 pod CIDRs; at most 64"),
    BadClaimCase(name: "no CIDRs", record: claim("n2", cidrs: []), reason: "no pod CIDRs"),
    BadClaimCase(name: "CIDR with host bits", record: claim("n2", cidrs: ["10.244.2.7/24"]), reason: "host bits set"),
    BadClaimCase(name: "CIDRs overlapping each other", record: claim("n2", cidrs: ["10.244.2.0/24", "10.244.2.128/25"]), reason: "overlaps 10.244.2.0/24 in the same claim"),
    BadClaimCase(name: "address is not an IP", record: claim("n2", address: "node-2.local", cidrs: ["10.244.2.0/24"]), reason: "address: 'node-2.local' is not an IPv4 or IPv6 address"),
    BadClaimCase(name: "loopback address", record: claim("n2", address: "127.0.0.1", cidrs: ["10.244.2.0/24"]), reason: "cannot be a node's underlay address"),
    BadClaimCase(name: "address inside the pod pool", record: claim("n2", address: "10.244.9.9", cidrs: ["10.244.2.0/24"]), reason: "inside the pod CIDR pool"),
    BadClaimCase(name: "port 0", record: claim("n2", port: 0, cidrs: ["10.244.2.0/24"]), reason: "listenPort: 0 is not a UDP port"),
    BadClaimCase(name: "claim for another node", record: claim("n3", cidrs: ["10.244.2.0/24"]), reason: "names node 'n3' but is stored under 'n2'"),
    BadClaimCase(name: "overlap with an accepted node", record: claim("n2", cidrs: ["10.244.1.128/25"]), reason: "10.244.1.128/25 overlaps 10.244.1.0/24 of node n1"),
    BadClaimCase(name: "duplicate key", record: claim("n2", key: PublicKey.fixture("n1").base64, cidrs: ["10.244.2.0/24"]), reason: "is already used by node n1"),
]

@Suite struct ClaimValidation {
    let good = claim("n1", cidrs: ["10.244.1.0/24"])
    let third = claim("n3", address: "192.168.77.13", cidrs: ["10.244.3.0/24"])

    @Test(arguments: badClaims)
    func badClaimIsRejectedWithItsReasonAndOthersUnaffected(_ c: BadClaimCase) {
        // n1 was accepted earlier; n2 sends the bad claim (stored under claims/n2); n3 is fine.
        let accepted = validateClaims([input(good, revision: 5)], pools: pools, accepted: [:]).peers
        #expect(accepted.count == 1)
        let prior = accepted.mapValues { AcceptedInput(record: $0, createRevision: 6) }
        let n2 = ClaimInput(node: .must("n2"), record: .success(c.record), modRevision: 10, createRevision: 10)
        let outcome = validateClaims([input(good, revision: 5), n2, input(third, revision: 12)], pools: pools, accepted: prior)
        let verdict = outcome.verdicts[.must("n2")]
        #expect(verdict?.state == .rejected)
        #expect(verdict?.reasons.contains { $0.contains(c.reason) } == true, "\(verdict?.reasons ?? [])")
        #expect(outcome.peers[.must("n2")] == nil)
        #expect(outcome.peers[.must("n1")] == accepted[.must("n1")])
        #expect(outcome.verdicts[.must("n3")]?.state == .accepted)
        #expect(outcome.peers[.must("n3")]?.allowedIPs == ["10.244.3.0/24"])
    }

    @Test func malformedJSONIsRejectedWithTheDecoderReason() {
        let kv = KeyValue(key: StoreKeys.claim(.must("n2")), value: Array("{\"node\": \"n2\", \"publicKey\": ".utf8),
                          createRevision: 3, modRevision: 3, version: 1, lease: nil)
        let wrongType = KeyValue(key: StoreKeys.claim(.must("n4")), value: Array(#"{"node":"n4","publicKey":"x","keyGeneration":1,"address":"1.2.3.4","listenPort":"51830","podCIDRs":[]}"#.utf8),
                                 createRevision: 4, modRevision: 4, version: 1, lease: nil)
        let outcome = validateClaims([.from(kv, node: .must("n2")), .from(wrongType, node: .must("n4")), input(good, revision: 5)],
                                     pools: pools, accepted: [:])
        #expect(outcome.verdicts[.must("n2")]?.reasons == ["the claim does not decode: /meshguard/v1/claims/n2: not valid JSON"])
        #expect(outcome.verdicts[.must("n4")]?.reasons.first?.contains("wrong type at listenPort") == true)
        #expect(outcome.verdicts[.must("n1")]?.state == .accepted)
    }

    @Test func reasonsAreCapped() {
        let many = claim("n2", key: "bad", address: "x", port: 0, cidrs: (1...20).map { "10.99.\($0).0/24" })
        let outcome = validateClaims([input(many, revision: 1)], pools: pools, accepted: [:])
        let reasons = outcome.verdicts[.must("n2")]!.reasons
        #expect(reasons.count == ClaimLimits.maxReasons + 1)
        #expect(reasons.last!.contains("more problems"))
    }

    @Test func badClaimAfterAcceptanceKeepsTheLastGoodRecord() {
        let first = validateClaims([input(good, revision: 5)], pools: pools, accepted: [:])
        let prior = first.peers.mapValues { AcceptedInput(record: $0, createRevision: 6) }
        let broken = claim("n1", key: Base64.encode([UInt8](repeating: 0, count: 32)), cidrs: ["10.244.1.0/24"])
        let outcome = validateClaims([input(broken, revision: 9)], pools: pools, accepted: prior)
        #expect(outcome.peers[.must("n1")] == first.peers[.must("n1")])
        #expect(outcome.verdicts[.must("n1")]?.state == .rejected)
        #expect(outcome.verdicts[.must("n1")]?.keptPrevious == true)
    }

    @Test func aClaimPutAgainUnchangedKeepsItsRecordAndRenewsTheVerdict() {
        let first = validateClaims([input(good, revision: 5)], pools: pools, accepted: [:])
        let prior = first.peers.mapValues { AcceptedInput(record: $0, createRevision: 6) }
        // The agent's lease ran out and it published the same claim again, at revision 40.
        let again = validateClaims([input(good, revision: 40)], pools: pools, accepted: prior)
        #expect(again.peers == first.peers)
        #expect(again.peers[.must("n1")]?.claimRevision == 5)
        #expect(again.verdicts[.must("n1")]?.claimRevision == 40)
        // A changed claim is a new record, from its own revision.
        let moved = validateClaims([input(claim("n1", address: "192.168.77.99", cidrs: ["10.244.1.0/24"]), revision: 41)],
                                   pools: pools, accepted: prior)
        #expect(moved.peers[.must("n1")]?.endpoint == "192.168.77.99:51830")
        #expect(moved.peers[.must("n1")]?.claimRevision == 41)
    }

    @Test func silentNodeKeepsItsRecord() {
        let first = validateClaims([input(good, revision: 5)], pools: pools, accepted: [:])
        let prior = first.peers.mapValues { AcceptedInput(record: $0, createRevision: 6) }
        let outcome = validateClaims([], pools: pools, accepted: prior)
        #expect(outcome.peers == first.peers)
        #expect(outcome.verdicts.isEmpty)
    }

    @Test func earlierNewcomerWinsAConflict() {
        let a = claim("n2", cidrs: ["10.244.2.0/24"])
        let b = claim("n3", cidrs: ["10.244.2.0/23"])
        let outcome = validateClaims([input(b, revision: 8), input(a, revision: 7)], pools: pools, accepted: [:])
        #expect(outcome.verdicts[.must("n2")]?.state == .accepted)
        #expect(outcome.verdicts[.must("n3")]?.reasons == ["podCIDRs: 10.244.2.0/23 overlaps 10.244.2.0/24 of node n2"])
        // A rejected node's CIDRs that someone else owns are not offered for fallback routes.
        #expect(outcome.verdicts[.must("n3")]?.ownedCIDRs == [])
    }

    @Test func releasedCIDRIsTakenOverInTheSameRun() {
        // n1 owned 10.244.1.0/24 and moves to 10.244.11.0/24; n0 (accepted earlier, processed
        // first) wants 10.244.1.0/24 and gets it once n1's move frees it.
        let n0 = claim("n0", address: "192.168.77.10", cidrs: ["10.244.0.0/24", "10.244.1.0/24"])
        let prior: [NodeName: AcceptedInput] = [
            .must("n0"): AcceptedInput(record: PeerRecord(node: "n0", publicKey: PublicKey.fixture("n0").base64, keyGeneration: 1,
                                                          endpoint: "192.168.77.10:51830", allowedIPs: ["10.244.0.0/24"], claimRevision: 1), createRevision: 2),
            .must("n1"): AcceptedInput(record: PeerRecord(node: "n1", publicKey: PublicKey.fixture("n1").base64, keyGeneration: 1,
                                                          endpoint: "192.168.77.11:51830", allowedIPs: ["10.244.1.0/24"], claimRevision: 3), createRevision: 4),
        ]
        let moved = claim("n1", cidrs: ["10.244.11.0/24"])
        let outcome = validateClaims([input(n0, revision: 9), input(moved, revision: 10)], pools: pools, accepted: prior)
        #expect(outcome.peers[.must("n1")]?.allowedIPs == ["10.244.11.0/24"])
        #expect(outcome.peers[.must("n0")]?.allowedIPs == ["10.244.0.0/24", "10.244.1.0/24"])
        #expect(outcome.verdicts[.must("n0")]?.state == .accepted)
    }

    @Test func rejectedNodeWithValidCIDRsGetsFallbackOwnership() {
        let bad = claim("n2", key: "bad", cidrs: ["10.244.2.0/24"])
        let outcome = validateClaims([input(good, revision: 1), input(bad, revision: 2)], pools: pools, accepted: [:])
        #expect(outcome.verdicts[.must("n2")]?.ownedCIDRs == ["10.244.2.0/24"])
    }
}
