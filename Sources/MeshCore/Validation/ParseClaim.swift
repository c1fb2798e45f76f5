/// A claim whose every field is well-formed on its own. Whether it conflicts with other nodes is
/// decided by ``validateClaims(_:pools:accepted:)``.
public struct ParsedClaim: Hashable, Sendable {
    public var node: NodeName
    public var publicKey: PublicKey
    public var keyGeneration: Int
    public var nextPublicKey: PublicKey?
    public var endpoint: Endpoint
    public var podCIDRs: [IPPrefix]
}

public enum ClaimLimits {
    /// More pod CIDRs than this in one claim is refused: real nodes have one per family, and a
    /// flood of prefixes would bloat every peer's AllowedIPs and every routing table.
    public static let maxPodCIDRs = 64
    /// At most this many reasons are listed; the rest are counted.
    public static let maxReasons = 8
}

/// Checks each field of a claim stored under `claims/<keyName>` on its own: key format, node
/// name, address, port, and every pod CIDR against the pools. Returns the parsed claim or every
/// reason it is invalid (capped at ``ClaimLimits/maxReasons``).
public func parseClaim(_ claim: ClaimRecord, keyName: NodeName, pools: [IPPrefix]) -> Result<ParsedClaim, ClaimRejection> {
    var reasons: [String] = []

    if claim.node != keyName.rawValue {
        reasons.append("the claim names node '\(claim.node.prefix(80))' but is stored under '\(keyName)'")
    }

    var publicKey: PublicKey?
    do {
        let key = try PublicKey(base64: claim.publicKey)
        if key == placeholderPeerKey {
            reasons.append("publicKey: this key is reserved by Meshguard")
        } else {
            publicKey = key
        }
    } catch {
        reasons.append("publicKey: \(error.message)")
    }

    if claim.keyGeneration < 1 { reasons.append("keyGeneration must be at least 1, not \(claim.keyGeneration)") }

    var nextKey: PublicKey?
    if let next = claim.nextPublicKey {
        do {
            let key = try PublicKey(base64: next)
            if key == publicKey { reasons.append("nextPublicKey: equals the current public key") } else { nextKey = key }
        } catch {
            reasons.append("nextPublicKey: \(error.message)")
        }
    }

    var address: IPAddress?
    do {
        let a = try IPAddress(claim.address)
        if a.isUnspecified || a.isLoopback || a.isMulticast || a.isLimitedBroadcast {
            reasons.append("address: \(a) cannot be a node's underlay address")
        } else if let pool = pools.first(where: { $0.contains(a) }) {
            reasons.append("address: \(a) is inside the pod CIDR pool \(pool)")
        } else {
            address = a
        }
    } catch {
        reasons.append("address: \(error.message)")
    }

    if !(1...65535).contains(claim.listenPort) {
        reasons.append("listenPort: \(claim.listenPort) is not a UDP port (1-65535)")
    }

    var cidrs: [IPPrefix] = []
    if claim.podCIDRs.isEmpty {
        reasons.append("podCIDRs: the claim has no pod CIDRs")
    } else if claim.podCIDRs.count > ClaimLimits.maxPodCIDRs {
        reasons.append("podCIDRs: the claim lists \(claim.podCIDRs.count) pod CIDRs; at most \(ClaimLimits.maxPodCIDRs) are allowed")
    } else if pools.isEmpty {
        reasons.append("podCIDRs: the controller has no pod CIDR pools configured")
    } else {
        for text in claim.podCIDRs {
            let prefix: IPPrefix
            do { prefix = try IPPrefix(text) } catch {
                reasons.append("podCIDRs: \(error.message)")
                continue
            }
            if prefix.isDefaultRoute {
                reasons.append("podCIDRs: \(prefix) claims the whole address space")
            } else if !pools.contains(where: { $0.contains(prefix) }) {
                reasons.append("podCIDRs: \(prefix) is outside the pod CIDR pools (\(pools.map(\.description).joined(separator: ", ")))")
            } else if let other = cidrs.first(where: { $0.overlaps(prefix) }) {
                reasons.append("podCIDRs: \(prefix) overlaps \(other) in the same claim")
            } else {
                cidrs.append(prefix)
            }
        }
    }

    guard reasons.isEmpty, let publicKey, let address else {
        return .failure(ClaimRejection(reasons: reasons, validCIDRs: cidrs))
    }
    return .success(ParsedClaim(node: keyName, publicKey: publicKey, keyGeneration: claim.keyGeneration,
                                nextPublicKey: nextKey, endpoint: Endpoint(address: address, port: UInt16(claim.listenPort)),
                                podCIDRs: cidrs.sorted()))
}

/// Why a claim was refused, plus the pod CIDRs in it that were fine on their own.
public struct ClaimRejection: Error, Hashable, Sendable {
    public var reasons: [String]
    public var validCIDRs: [IPPrefix]

    public init(reasons: [String], validCIDRs: [IPPrefix] = []) {
        if reasons.count > ClaimLimits.maxReasons {
            self.reasons = Array(reasons.prefix(ClaimLimits.maxReasons)) + ["… and \(reasons.count - ClaimLimits.maxReasons) more problems"]
        } else {
            self.reasons = reasons
        }
        self.validCIDRs = validCIDRs
    }
}
