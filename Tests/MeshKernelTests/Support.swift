import MeshCore
import MeshKernel
import MeshTestKit
import Netlink

// Hand-rolled netlink bytes, independent of the code under test (NetlinkRequest, the
// encoder): a dump built with the encoder's own helpers would share its mistakes.
// Integers are host order, little-endian on every machine the project targets.

let nlaNested: UInt16 = 0x8000

func le16(_ value: UInt16) -> [UInt8] { [UInt8(value & 0xff), UInt8(value >> 8)] }
func le32(_ value: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
func le64(_ value: UInt64) -> [UInt8] { (0..<8).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }

enum TLV {
    /// One attribute: `nla_len`, `nla_type`, payload, zero padding to 4.
    static func attr(_ type: UInt16, _ payload: [UInt8]) -> [UInt8] {
        var out = le16(UInt16(4 + payload.count)) + le16(type) + payload
        while out.count % 4 != 0 { out.append(0) }
        return out
    }
    /// A nest with `NLA_F_NESTED`, as the kernel builds them (`nested: false` as old senders did).
    static func nest(_ type: UInt16, _ children: [[UInt8]], nested: Bool = true) -> [UInt8] {
        attr(nested ? type | nlaNested : type, children.flatMap { $0 })
    }
    static func u8(_ type: UInt16, _ value: UInt8) -> [UInt8] { attr(type, [value]) }
    static func u16(_ type: UInt16, _ value: UInt16) -> [UInt8] { attr(type, le16(value)) }
    static func u32(_ type: UInt16, _ value: UInt32) -> [UInt8] { attr(type, le32(value)) }
    static func u64(_ type: UInt16, _ value: UInt64) -> [UInt8] { attr(type, le64(value)) }
    static func strz(_ type: UInt16, _ text: String) -> [UInt8] { attr(type, Array(text.utf8) + [0]) }
}

/// Attribute numbers, written out again on purpose (a typo in the module's constants must not
/// be copied into the tests).
enum A {
    static let ifindex: UInt16 = 1, ifname: UInt16 = 2, privateKey: UInt16 = 3, publicKey: UInt16 = 4
    static let deviceFlags: UInt16 = 5, listenPort: UInt16 = 6, fwmark: UInt16 = 7, peers: UInt16 = 8
    static let peerKey: UInt16 = 1, presharedKey: UInt16 = 2, peerFlags: UInt16 = 3, endpoint: UInt16 = 4
    static let keepalive: UInt16 = 5, handshake: UInt16 = 6, rx: UInt16 = 7, tx: UInt16 = 8
    static let allowedIPs: UInt16 = 9, protocolVersion: UInt16 = 10
    static let ipFamily: UInt16 = 1, ipAddress: UInt16 = 2, cidr: UInt16 = 3, ipFlags: UInt16 = 4
}

/// An arbitrary family id, as the controller might hand out (the kernel's are small numbers).
let testFamilyID: UInt16 = 0x22

/// A generic netlink message from the kernel: header, `genlmsghdr`, attributes.
func genlMessage(command: UInt8 = 0, flags: UInt16 = 0x2 /* NLM_F_MULTI */, sequence: UInt32 = 7,
                 _ attributes: [[UInt8]]) -> NetlinkMessage {
    NetlinkMessage(type: testFamilyID, flags: flags, sequence: sequence, portID: 99,
                   payload: [command, 1, 0, 0] + attributes.flatMap { $0 })
}

/// `NLMSG_DONE` carrying `error` (0, or a negative errno as the kernel sends it).
func doneMessage(error: Int32 = 0, sequence: UInt32 = 7) -> NetlinkMessage {
    NetlinkMessage(type: 3, flags: 0x2, sequence: sequence, portID: 99, payload: le32(UInt32(bitPattern: error)))
}

func sockaddrIn(_ address: [UInt8], port: UInt16) -> [UInt8] {
    le16(2) + [UInt8(port >> 8), UInt8(port & 0xff)] + address + [UInt8](repeating: 0, count: 8)
}

func sockaddrIn6(_ address: [UInt8], port: UInt16, scope: UInt32 = 0) -> [UInt8] {
    le16(10) + [UInt8(port >> 8), UInt8(port & 0xff)] + le32(0) + address + le32(scope)
}

/// An allowed-IP entry as the kernel writes it: CIDR_MASK, IPADDR, FAMILY (in that order).
func kernelAllowedIP(_ prefix: IPPrefix) -> [UInt8] {
    TLV.nest(0, [TLV.u8(A.cidr, UInt8(prefix.length)), TLV.attr(A.ipAddress, prefix.address.bytes),
                 TLV.u16(A.ipFamily, prefix.family == .inet ? 2 : 10)])
}

/// Distinct peer keys for big tests: "peer" + a big-endian index, padded with 0x01.
func numberedKey(_ n: Int) -> PublicKey {
    var bytes = Array("peer".utf8) + [UInt8(n >> 24 & 0xff), UInt8(n >> 16 & 0xff), UInt8(n >> 8 & 0xff), UInt8(n & 0xff)]
    bytes += [UInt8](repeating: 1, count: 32 - bytes.count)
    return try! PublicKey(bytes: bytes)
}

/// The n-th /32 of 10.0.0.0/8 (n < 2^24).
func hostPrefix(_ n: Int) -> IPPrefix {
    IPPrefix(host: .v4(0x0A00_0000 | UInt32(n)))
}

/// The attributes of a SET message after its generic netlink header, parsed with the Netlink
/// module's reader (independent of the encoder).
func setAttributes(_ message: [UInt8]) throws -> NetlinkAttributes {
    let parsed = try NetlinkMessage(bytes: message)
    return try NetlinkAttributes(parsing: parsed.payload[4...])
}

/// One peer element of a SET message, decoded for checks.
struct SentPeer: Equatable {
    var key: PublicKey
    var flags: UInt32
    var hasEndpoint: Bool
    var hasKeepalive: Bool
    var allowedIPs: [IPPrefix]
    /// Whether every nest in the element carried NLA_F_NESTED.
    var allNested: Bool
}

func sentPeers(_ message: [UInt8]) throws -> [SentPeer] {
    guard let peers = try setAttributes(message)[A.peers] else { return [] }
    var result: [SentPeer] = []
    for element in try NetlinkAttributes(parsing: peers.payload).all {
        let attributes = try NetlinkAttributes(parsing: element.payload)
        var ips: [IPPrefix] = []
        var nested = peers.isNested && element.isNested
        if let list = attributes[A.allowedIPs] {
            nested = nested && list.isNested
            for entry in try NetlinkAttributes(parsing: list.payload).all {
                nested = nested && entry.isNested
                let ip = try NetlinkAttributes(parsing: entry.payload)
                guard let bytes = ip.bytes(A.ipAddress), let address = IPAddress(bytes: bytes), let length = try ip.u8(A.cidr) else {
                    throw MalformedRequest("an allowed IP without address or mask")
                }
                ips.append(try IPPrefix(address: address, length: Int(length)))
            }
        }
        guard let key = attributes.bytes(A.peerKey) else { throw MalformedRequest("a peer without WGPEER_A_PUBLIC_KEY") }
        result.append(SentPeer(key: try PublicKey(bytes: key), flags: try attributes.u32(A.peerFlags) ?? 0,
                               hasEndpoint: attributes.contains(A.endpoint), hasKeepalive: attributes.contains(A.keepalive),
                               allowedIPs: ips, allNested: nested))
    }
    return result
}

/// A SET message the checks cannot read: a test failure, not a trap.
struct MalformedRequest: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
