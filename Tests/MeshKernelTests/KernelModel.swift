import MeshCore
import MeshKernel
import Netlink

/// A small model of drivers/net/wireguard/netlink.c, for round trips without a kernel:
/// applies `WG_CMD_SET_DEVICE` messages with the kernel's semantics and strictness, and
/// answers `WG_CMD_GET_DEVICE` with a dump split the way `wg_get_device_dump` splits it.
///
/// Strictness copied from the kernel: every nest must carry NLA_F_NESTED (5.2+), exact sizes
/// for keys and integers, attribute types above the policy's maximum are refused (so
/// `WGALLOWEDIP_A_FLAGS` is refused, as on kernels before 2025), unknown flag bits are
/// refused, a peer needs a public key, an allowed IP needs a matching family, address size
/// and mask. The one thing left out is the private key's public half (no Curve25519 here).
struct KernelModel {
    struct Refusal: Error, Equatable {
        var errno: Int32
        var why: String
    }

    struct Peer: Equatable {
        var key: PublicKey
        var endpoint: [UInt8]?
        var keepalive: UInt16 = 0
        /// In insertion order, as the kernel's per-peer list keeps them.
        var allowedIPs: [IPPrefix] = []
    }

    var name: String
    var privateKey: [UInt8]?
    var listenPort: UInt16 = 0
    var fwmark: UInt32 = 0
    /// In creation order, as the kernel's peer list.
    var peers: [Peer] = []
    /// Every SET message received, for tests that check sizes and order.
    var received: [[UInt8]] = []

    init(name: String) { self.name = name }

    static let EINVAL: Int32 = 22, EOPNOTSUPP: Int32 = 95, ENODEV: Int32 = 19

    // MARK: SET

    /// Applies one message, or throws the errno the kernel would answer. Like the kernel, a
    /// refusal in the middle of the peers leaves the peers before it applied.
    mutating func apply(_ bytes: [UInt8], familyID: UInt16 = testFamilyID) throws(Refusal) {
        received.append(bytes)
        let message: NetlinkMessage
        let attributes: NetlinkAttributes
        do {
            message = try NetlinkMessage(bytes: bytes)
            guard message.type == familyID, message.payload.count >= 4 else { throw Refusal(errno: Self.EINVAL, why: "not a WireGuard message") }
            guard message.payload[0] == 1, message.payload[1] == 1 else { throw Refusal(errno: Self.EINVAL, why: "not SET v1") }
            attributes = try NetlinkAttributes(parsing: message.payload[4...])
        } catch let refusal as Refusal {
            throw refusal
        } catch {
            throw Refusal(errno: Self.EINVAL, why: "unparsable: \(error)")
        }
        guard message.flags & 0x1 != 0 else { throw Refusal(errno: Self.EINVAL, why: "no NLM_F_REQUEST") }
        try validate(attributes, maximum: A.peers, nests: [A.peers], sizes: [A.ifindex: 4, A.privateKey: 32, A.publicKey: 32,
                                                                             A.deviceFlags: 4, A.listenPort: 2, A.fwmark: 4])
        guard attributes.string(A.ifname) == name else { throw Refusal(errno: Self.ENODEV, why: "no device \(attributes.string(A.ifname) ?? "-")") }
        guard let nameAttribute = attributes[A.ifname], nameAttribute.payload.last == 0 else {
            throw Refusal(errno: Self.EINVAL, why: "IFNAME without NUL")
        }
        let flags = (try? attributes.u32(A.deviceFlags)) ?? 0
        guard flags & ~1 == 0 else { throw Refusal(errno: Self.EOPNOTSUPP, why: "device flags \(flags)") }
        // wg_set_device's order: fwmark, listen port, replace peers, private key, peers.
        if let mark = try? attributes.u32(A.fwmark) { fwmark = mark }
        if let port = try? attributes.u16(A.listenPort) { listenPort = port }
        if flags & 1 != 0 { peers.removeAll() }
        if let key = attributes.bytes(A.privateKey) { privateKey = key.allSatisfy { $0 == 0 } ? nil : key }
        guard let list = attributes[A.peers] else { return }
        let elements: NetlinkAttributes
        do { elements = try NetlinkAttributes(parsing: list.payload) } catch { throw Refusal(errno: Self.EINVAL, why: "peers") }
        for element in elements.all {
            guard element.isNested else { throw Refusal(errno: Self.EINVAL, why: "peer nest without NLA_F_NESTED") }
            try setPeer(element.payload)
        }
    }

    private mutating func setPeer(_ payload: ArraySlice<UInt8>) throws(Refusal) {
        let attributes: NetlinkAttributes
        do { attributes = try NetlinkAttributes(parsing: payload) } catch { throw Refusal(errno: Self.EINVAL, why: "peer") }
        try validate(attributes, maximum: A.protocolVersion, nests: [A.allowedIPs],
                     sizes: [A.peerKey: 32, A.presharedKey: 32, A.peerFlags: 4, A.keepalive: 2, A.handshake: 16, A.rx: 8, A.tx: 8,
                             A.protocolVersion: 4])
        guard let keyBytes = attributes.bytes(A.peerKey), let key = try? PublicKey(bytes: keyBytes) else {
            throw Refusal(errno: Self.EINVAL, why: "peer without public key")
        }
        let flags = (try? attributes.u32(A.peerFlags)) ?? 0
        guard flags & ~7 == 0 else { throw Refusal(errno: Self.EOPNOTSUPP, why: "peer flags \(flags)") }
        var index = peers.firstIndex { $0.key == key }
        if index == nil {
            if flags & (1 | 4) != 0 { return }  // REMOVE_ME or UPDATE_ONLY on a missing peer: nothing
            peers.append(Peer(key: key))
            index = peers.count - 1
        }
        let i = index!
        if flags & 1 != 0 {
            peers.remove(at: i)
            return
        }
        if let endpoint = attributes.bytes(A.endpoint) {
            guard endpoint.count >= 16 else { throw Refusal(errno: Self.EINVAL, why: "short endpoint") }
            if (endpoint.count == 16 && endpoint[0] == 2) || (endpoint.count == 28 && endpoint[0] == 10) {
                peers[i].endpoint = endpoint
            }
        }
        if flags & 2 != 0 { peers[i].allowedIPs.removeAll() }
        if let list = attributes[A.allowedIPs] {
            let entries: NetlinkAttributes
            do { entries = try NetlinkAttributes(parsing: list.payload) } catch { throw Refusal(errno: Self.EINVAL, why: "allowed IPs") }
            for entry in entries.all {
                guard entry.isNested else { throw Refusal(errno: Self.EINVAL, why: "allowed-IP nest without NLA_F_NESTED") }
                try insert(entry.payload, into: i)
            }
        }
        if let keepalive = try? attributes.u16(A.keepalive) { peers[i].keepalive = keepalive }
    }

    private mutating func insert(_ payload: ArraySlice<UInt8>, into index: Int) throws(Refusal) {
        let ip: NetlinkAttributes
        do { ip = try NetlinkAttributes(parsing: payload) } catch { throw Refusal(errno: Self.EINVAL, why: "allowed IP") }
        // The allowed-IP policy of kernels before WGALLOWEDIP_A_FLAGS stops at CIDR_MASK.
        try validate(ip, maximum: A.cidr, nests: [], sizes: [A.ipFamily: 2, A.cidr: 1])
        guard let family = try? ip.u16(A.ipFamily), let address = ip.bytes(A.ipAddress), let cidr = try? ip.u8(A.cidr) else {
            throw Refusal(errno: Self.EINVAL, why: "incomplete allowed IP")
        }
        guard (family == 2 && address.count == 4 && cidr <= 32) || (family == 10 && address.count == 16 && cidr <= 128) else {
            throw Refusal(errno: Self.EINVAL, why: "bad allowed IP")
        }
        // The kernel masks the address to the prefix length.
        var bits = address
        for b in bits.indices {
            let kept = max(0, min(8, Int(cidr) - 8 * b))
            bits[b] &= kept == 0 ? 0 : ~UInt8(0) << UInt8(8 - kept)
        }
        let prefix = try! IPPrefix(address: IPAddress(bytes: bits)!, length: Int(cidr))
        // A prefix belongs to one peer: it moves to the last one that claims it.
        for j in peers.indices { peers[j].allowedIPs.removeAll { $0 == prefix } }
        peers[index].allowedIPs.append(prefix)
    }

    /// Strict validation: types above `maximum` refused, nests need NLA_F_NESTED, exact sizes.
    private func validate(_ attributes: NetlinkAttributes, maximum: UInt16, nests: Set<UInt16>, sizes: [UInt16: Int]) throws(Refusal) {
        for attribute in attributes.all {
            guard attribute.type <= maximum else { throw Refusal(errno: Self.EINVAL, why: "attribute type \(attribute.type) above the policy") }
            if nests.contains(attribute.type) && !attribute.isNested {
                throw Refusal(errno: Self.EINVAL, why: "NLA_F_NESTED is missing on \(attribute.type)")
            }
            if let size = sizes[attribute.type], attribute.payload.count != size {
                throw Refusal(errno: Self.EINVAL, why: "attribute \(attribute.type) has \(attribute.payload.count) bytes")
            }
        }
    }

    // MARK: GET

    /// The dump `wg_get_device_dump` would send with parts of at most `partSize` bytes: device
    /// attributes in the first part only, peers across parts, a peer whose allowed IPs do not fit
    /// closed and continued at the head of the next part with only PUBLIC_KEY and ALLOWEDIPS.
    /// `pads` puts a WGPEER_A_UNSPEC pad before each u64, as on architectures without
    /// efficient unaligned access. Ends with NLMSG_DONE.
    func dump(partSize: Int = 4096, pads: Bool = false, nested: Bool = true) -> [NetlinkMessage] {
        var parts: [NetlinkMessage] = []
        var peer = 0
        var allowedIP: Int?
        repeat {
            var attributes: [[UInt8]] = []
            if parts.isEmpty {
                attributes.append(TLV.u16(A.listenPort, listenPort))
                attributes.append(TLV.u32(A.fwmark, fwmark))
                attributes.append(TLV.u32(A.ifindex, 7))
                attributes.append(TLV.strz(A.ifname, name))
                if let privateKey {
                    attributes.append(TLV.attr(A.privateKey, privateKey))
                    attributes.append(TLV.attr(A.publicKey, [UInt8](repeating: 0x55, count: 32)))
                }
            }
            var used = 16 + 4 + attributes.reduce(0) { $0 + $1.count } + 4  // + the PEERS nest header
            var elements: [[UInt8]] = []
            while peer < peers.count {
                let current = peers[peer]
                var head = [TLV.attr(A.peerKey, current.key.bytes)]
                if allowedIP == nil {
                    head.append(TLV.attr(A.presharedKey, [UInt8](repeating: 0, count: 32)))
                    head.append(TLV.attr(A.handshake, le64(0) + le64(0)))
                    head.append(TLV.u16(A.keepalive, current.keepalive))
                    if pads { head.append(TLV.attr(0, [])) }
                    head.append(TLV.u64(A.tx, 0))
                    if pads { head.append(TLV.attr(0, [])) }
                    head.append(TLV.u64(A.rx, 0))
                    head.append(TLV.u32(A.protocolVersion, 1))
                    if let endpoint = current.endpoint { head.append(TLV.attr(A.endpoint, endpoint)) }
                }
                let headSize = 4 + head.reduce(0) { $0 + $1.count }
                let remaining = current.allowedIPs.count - (allowedIP ?? 0)
                // get_peer: a head (or an empty ALLOWEDIPS nest) that does not fit cancels the peer.
                guard used + headSize + (remaining > 0 ? 4 : 0) <= partSize else { break }
                var ips: [[UInt8]] = []
                var ipsSize = 4
                var next = allowedIP ?? 0
                var full = false
                while next < current.allowedIPs.count {
                    let entry = kernelAllowedIP(current.allowedIPs[next])
                    if used + headSize + ipsSize + entry.count > partSize { full = true; break }
                    ips.append(entry)
                    ipsSize += entry.count
                    next += 1
                }
                if remaining > 0 { head.append(TLV.nest(A.allowedIPs, ips, nested: nested)) }
                let element = TLV.nest(0, head, nested: nested)
                elements.append(element)
                used += element.count
                if full {
                    allowedIP = next
                    break
                }
                peer += 1
                allowedIP = nil
            }
            // An empty part after the first would repeat forever (the amneziawg bug): not here.
            precondition(!elements.isEmpty || parts.isEmpty, "the model's dump does not progress")
            // The kernel cancels an empty PEERS nest.
            if !elements.isEmpty { attributes.append(TLV.nest(A.peers, elements, nested: nested)) }
            parts.append(genlMessage(attributes))
        } while peer < peers.count
        return parts + [doneMessage()]
    }
}
