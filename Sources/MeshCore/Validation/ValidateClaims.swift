/// One node's claim as read from the store, before validation.
public struct ClaimInput: Sendable {
    public var node: NodeName
    /// The decoded claim, or why it did not decode (malformed JSON, wrong shape).
    public var record: Result<ClaimRecord, ClaimRejection>
    public var modRevision: Revision
    /// Orders newcomers: an earlier claim wins a conflict between two not-yet-accepted nodes.
    public var createRevision: Revision

    public init(node: NodeName, record: Result<ClaimRecord, ClaimRejection>, modRevision: Revision, createRevision: Revision) {
        self.node = node
        self.record = record
        self.modRevision = modRevision
        self.createRevision = createRevision
    }
}

/// A currently accepted peer and when it was first accepted (its record's create revision).
public struct AcceptedInput: Sendable {
    public var record: PeerRecord
    public var createRevision: Revision
    public init(record: PeerRecord, createRevision: Revision) {
        self.record = record
        self.createRevision = createRevision
    }
}

public struct ValidationOutcome: Sendable, Equatable {
    /// The peer records that should exist, by node. Includes nodes without a claim (a silent
    /// agent keeps its record) and nodes whose new claim was rejected (the last good one stays).
    public var peers: [NodeName: PeerRecord]
    /// A verdict for every node that has a claim.
    public var verdicts: [NodeName: VerdictRecord]
}

/// Decides which claims are accepted. Pure; the controller runs it on every change.
///
/// Rules, in order of precedence:
/// - each claim must be well-formed (``parseClaim(_:keyName:pools:)``);
/// - a public key belongs to one node: a node already accepted with it keeps it, and between
///   newcomers the earlier claim wins;
/// - pod CIDRs may not overlap another node's: the first accepted owner keeps them;
/// - a rejected claim never removes what was accepted before: the node keeps its last accepted
///   record (``VerdictRecord/keptPrevious``) and the other nodes are unaffected.
///
/// Ownership freed by one node's accepted change is offered to others in a further round, until
/// nothing changes.
public func validateClaims(_ claims: [ClaimInput], pools: [IPPrefix], accepted: [NodeName: AcceptedInput]) -> ValidationOutcome {
    var current = accepted
    var outcome = ValidationOutcome(peers: [:], verdicts: [:])
    // Each round can only grow the set of nodes whose claim is in force, so this terminates;
    // the bound is a guard against a bug, not a limit a real cluster reaches.
    for _ in 0...(claims.count + 1) {
        outcome = validationRound(claims, pools: pools, accepted: current)
        var next: [NodeName: AcceptedInput] = [:]
        for (node, record) in outcome.peers {
            next[node] = AcceptedInput(record: record, createRevision: current[node]?.createRevision ?? Revision.max)
        }
        if next.mapValues(\.record) == current.mapValues(\.record) { break }
        current = next
    }
    return outcome
}

private func validationRound(_ claims: [ClaimInput], pools: [IPPrefix], accepted: [NodeName: AcceptedInput]) -> ValidationOutcome {
    var keyOwner: [PublicKey: NodeName] = [:]
    var keysOf: [NodeName: [PublicKey]] = [:]
    var cidrOwner = PrefixIndex<NodeName>()
    var cidrsOf: [NodeName: [IPPrefix]] = [:]
    func reserve(_ node: NodeName, keys: [PublicKey], cidrs: [IPPrefix]) {
        for key in keys where keyOwner[key] == nil {
            keyOwner[key] = node
            keysOf[node, default: []].append(key)
        }
        // An accepted record overlapping another (corrupt input) keeps only what the first owner holds.
        for cidr in cidrs where cidrOwner.insert(cidr, owner: node) { cidrsOf[node, default: []].append(cidr) }
    }
    func release(_ node: NodeName) {
        for key in keysOf.removeValue(forKey: node) ?? [] { keyOwner[key] = nil }
        for cidr in cidrsOf.removeValue(forKey: node) ?? [] { cidrOwner.remove(cidr) }
    }

    // Everything accepted so far is owned by its node, oldest acceptance first.
    let acceptedOrder = accepted.sorted { ($0.value.createRevision, $0.key) < ($1.value.createRevision, $1.key) }
    for (node, input) in acceptedOrder {
        let keys = [input.record.publicKey, input.record.nextPublicKey].compactMap { $0.flatMap { try? PublicKey(base64: $0) } }
        let cidrs = input.record.allowedIPs.compactMap { try? IPPrefix($0) }
        reserve(node, keys: keys, cidrs: cidrs)
    }

    var peers = accepted.mapValues(\.record)
    var verdicts: [NodeName: VerdictRecord] = [:]
    var rejectedCIDRs: [NodeName: [IPPrefix]] = [:]

    let ordered = claims.sorted { a, b in
        let ra = accepted[a.node]?.createRevision ?? Revision.max
        let rb = accepted[b.node]?.createRevision ?? Revision.max
        return (ra, a.createRevision, a.node) < (rb, b.createRevision, b.node)
    }
    for claim in ordered {
        let node = claim.node
        let parsed: ParsedClaim
        switch claim.record.flatMap({ parseClaim($0, keyName: node, pools: pools) }) {
        case .failure(let rejection):
            verdicts[node] = VerdictRecord(node: node.rawValue, state: .rejected, reasons: rejection.reasons,
                                           claimRevision: claim.modRevision, keptPrevious: accepted[node] != nil)
            rejectedCIDRs[node] = rejection.validCIDRs
            continue
        case .success(let p):
            parsed = p
        }

        var reasons: [String] = []
        for key in [parsed.publicKey, parsed.nextPublicKey].compactMap({ $0 }) {
            if let owner = keyOwner[key], owner != node {
                reasons.append("publicKey: \(key.fingerprint)… is already used by node \(owner)")
            }
        }
        for cidr in parsed.podCIDRs {
            if let (other, owner) = cidrOwner.firstOverlap(with: cidr, excluding: node) {
                reasons.append("podCIDRs: \(cidr) overlaps \(other) of node \(owner)")
            }
        }
        if !reasons.isEmpty {
            let rejection = ClaimRejection(reasons: reasons)
            verdicts[node] = VerdictRecord(node: node.rawValue, state: .rejected, reasons: rejection.reasons,
                                           claimRevision: claim.modRevision, keptPrevious: accepted[node] != nil)
            rejectedCIDRs[node] = parsed.podCIDRs
            continue
        }

        let keys = [parsed.publicKey] + (parsed.nextPublicKey.map { [$0] } ?? [])
        // A claim that repeats what its node already holds (every claim of a settled cluster)
        // keeps its reservations: releasing and taking them again costs a search per prefix.
        if keysOf[node] != keys || cidrsOf[node] != parsed.podCIDRs {
            release(node)
            reserve(node, keys: keys, cidrs: parsed.podCIDRs)
        }
        let record = PeerRecord(node: node.rawValue, publicKey: parsed.publicKey.base64, keyGeneration: parsed.keyGeneration,
                                nextPublicKey: parsed.nextPublicKey?.base64, endpoint: parsed.endpoint.description,
                                allowedIPs: parsed.podCIDRs.map(\.description), claimRevision: claim.modRevision)
        // A claim published again unchanged (the agent restarted, or its lease ran out) keeps
        // the record it was accepted with: a record rewritten only for the new revision made
        // every node of the mesh run a pass that changes nothing.
        if let previous = accepted[node]?.record, previous.sameContent(as: record) {
            peers[node] = previous
        } else {
            peers[node] = record
        }
        verdicts[node] = VerdictRecord(node: node.rawValue, state: .accepted, reasons: [], claimRevision: claim.modRevision)
    }

    // CIDRs of nodes without an accepted key, for throw/unreachable routes: only those nobody
    // else owns, so a rejected node can never shadow an accepted node's route.
    for (node, cidrs) in rejectedCIDRs where peers[node] == nil {
        let owned = cidrs.filter { cidrOwner.firstOverlap(with: $0, excluding: node) == nil }
        verdicts[node]?.ownedCIDRs = owned.sorted().map(\.description)
    }
    return ValidationOutcome(peers: peers, verdicts: verdicts)
}


extension PeerRecord {
    /// Equal in everything but the claim revision it was accepted from.
    func sameContent(as other: PeerRecord) -> Bool {
        var other = other
        other.claimRevision = claimRevision
        return self == other
    }
}
