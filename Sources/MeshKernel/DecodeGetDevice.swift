import MeshCore
import Netlink

/// Decodes the parts of a `WG_CMD_GET_DEVICE` dump into the device's state. Pure: tests feed
/// it hand-built and captured dumps.
///
/// The kernel (`wg_get_device_dump`) splits a big device over several messages:
/// - the device attributes (`IFNAME`, `PRIVATE_KEY`, `LISTEN_PORT`, `FWMARK`, …) come in the
///   first part only;
/// - peers continue from part to part, and a peer whose allowed IPs did not fit is closed and
///   continued at the head of the next part with only `PUBLIC_KEY` and `ALLOWEDIPS`, as often
///   as it takes.
///
/// Fragments are merged by public key through a dictionary, so the result does not depend on
/// them being adjacent (wg(8) merges only adjacent ones; wgctrl-go uses a map, as here).
///
/// `messages` are the data messages as `NetlinkSocket.dump` returns them (it has already
/// retried a dump marked `NLM_F_DUMP_INTR` and turned an error in `NLMSG_DONE` into a throw).
/// Control messages are understood too, so that a whole captured reply can be fed in:
/// `NLMSG_DONE` ends the dump and its error, if any, is thrown; an `NLMSG_ERROR` ack is skipped
/// and an error in one thrown; `NLMSG_NOOP` is skipped.
///
/// Attribute types are compared masked (the kernel sets `NLA_F_NESTED` on its nests);
/// `WGPEER_A_UNSPEC` pads and attributes this decoder does not know (newer kernels add some)
/// are skipped; the preshared key is not read. `LAST_HANDSHAKE_TIME` is a 16-byte
/// `__kernel_timespec` (8 bytes from old 32-bit kernels is accepted too); all zero means no
/// handshake yet. The endpoint is a `sockaddr_in`/`sockaddr_in6`. An allowed IP with host bits
/// set is read as its network (the kernel stores prefixes masked; this only guards the model).
///
/// Peers come out sorted by public key and each peer's allowed IPs sorted, as the userspace
/// decoder returns them: the planner compares sorted lists without building sets.
///
/// The private key is copied into a ``PrivateKey`` and the temporary zeroed; the caller should
/// still wipe the messages' payloads.
///
/// - Throws: the kernel's error from `NLMSG_DONE` or `NLMSG_ERROR` (`.notFound` for `ENODEV`,
///   as ``translateKernelError(_:while:)`` maps them); `.backendFailure` for a malformed
///   dump: no WireGuard part, no interface name, a part too short for its generic netlink
///   header or for another command, a peer without a 32-byte public key, an attribute of the
///   wrong size, an allowed IP without family, address or length, or with a length beyond its
///   family. Never traps, whatever the input.
public func decodeGetDevice(_ messages: [NetlinkMessage]) throws(MeshError) -> DeviceState {
    var decoder = GetDeviceDecoder()
    return try decoder.decode(messages)
}

/// A dump the decoder cannot read. Never carries key material.
func malformedDump(_ problem: String) -> MeshError {
    MeshError(.backendFailure, "the kernel's WireGuard dump is malformed: \(problem)")
}

private struct GetDeviceDecoder {
    var name: String?
    var privateKey: PrivateKey?
    var listenPort: UInt16 = 0
    var fwmark: UInt32 = 0
    var peers: [PeerState] = []
    /// Where each key's peer is in ``peers``: continuations append to it.
    var index: [PublicKey: Int] = [:]
    var parts = 0

    mutating func decode(_ messages: [NetlinkMessage]) throws(MeshError) -> DeviceState {
        reading: for message in messages {
            switch message.type {
            case NetlinkControlType.done:
                try checkError(in: message, what: "NLMSG_DONE")
                break reading
            case NetlinkControlType.error:
                try checkError(in: message, what: "NLMSG_ERROR")
            case ..<NetlinkControlType.firstDataType:
                continue  // NLMSG_NOOP and reserved control types carry nothing.
            default:
                try decodePart(message)
            }
        }
        guard parts > 0 else { throw malformedDump("it has no WireGuard message") }
        guard let name else { throw malformedDump("its first part has no WGDEVICE_A_IFNAME") }
        for i in peers.indices where peers[i].allowedIPs.count > 1 { peers[i].allowedIPs.sort() }
        peers.sort { $0.publicKey < $1.publicKey }
        return DeviceState(name: name, privateKey: privateKey, listenPort: listenPort, fwmark: fwmark, peers: peers)
    }

    /// `NLMSG_DONE` and `NLMSG_ERROR` start with an `int`: 0, or an errno of either sign.
    func checkError(in message: NetlinkMessage, what: String) throws(MeshError) {
        guard message.payload.count >= 4 else {
            // A bare NLMSG_DONE (no payload) is a plain end; a short NLMSG_ERROR is not.
            if message.type == NetlinkControlType.done && message.payload.isEmpty { return }
            throw malformedDump("\(what) with \(message.payload.count) payload bytes")
        }
        let code = message.payload[...].loadHostOrder(Int32.self, at: 0)
        guard code != 0 else { return }
        let error = NetlinkError(.kernelRejected, "netlink request", errno: Errno(rawValue: Int32(truncatingIfNeeded: code.magnitude)))
        throw translateKernelError(error, while: "reading WireGuard device \(name ?? "")")
    }

    mutating func decodePart(_ message: NetlinkMessage) throws(MeshError) {
        parts += 1
        guard message.payload.count >= 4 else {
            throw malformedDump("part \(parts) has \(message.payload.count) bytes, less than its generic netlink header")
        }
        guard message.payload[0] == WireGuardGenl.getDevice else {
            throw malformedDump("part \(parts) is command \(message.payload[0]), not WG_CMD_GET_DEVICE")
        }
        for attribute in try parse(message.payload[4...], "part \(parts)").all {
            switch attribute.type {
            case WGDevice.ifname:
                name = String(decoding: attribute.payload.prefix { $0 != 0 }, as: UTF8.self)
            case WGDevice.privateKey:
                privateKey = try decodePrivateKey(attribute.payload)
            case WGDevice.listenPort:
                listenPort = try integer(attribute, "WGDEVICE_A_LISTEN_PORT")
            case WGDevice.fwmark:
                fwmark = try integer(attribute, "WGDEVICE_A_FWMARK")
            case WGDevice.peers:
                for element in try parse(attribute.payload, "WGDEVICE_A_PEERS").all {
                    try merge(try PeerFragment(element.payload))
                }
            default:
                continue  // IFINDEX, the derived PUBLIC_KEY, and whatever newer kernels add.
            }
        }
    }

    /// The kernel sends the key only when the device has one; all zeros would also mean none.
    func decodePrivateKey(_ payload: ArraySlice<UInt8>) throws(MeshError) -> PrivateKey? {
        guard payload.count == WireGuardGenl.keyLength else {
            throw malformedDump("WGDEVICE_A_PRIVATE_KEY has \(payload.count) bytes, expected \(WireGuardGenl.keyLength)")
        }
        var bytes = Array(payload)
        defer { wipe(&bytes) }
        guard bytes.contains(where: { $0 != 0 }) else { return nil }
        return try? PrivateKey(consuming: &bytes)
    }

    mutating func merge(_ fragment: PeerFragment) throws(MeshError) {
        guard let position = index[fragment.publicKey] else {
            index[fragment.publicKey] = peers.count
            peers.append(PeerState(publicKey: fragment.publicKey, endpoint: fragment.endpoint,
                                   allowedIPs: fragment.allowedIPs, persistentKeepalive: fragment.persistentKeepalive ?? 0,
                                   lastHandshake: fragment.lastHandshake ?? nil,
                                   rxBytes: fragment.rxBytes ?? 0, txBytes: fragment.txBytes ?? 0))
            return
        }
        // A continuation: the allowed IPs go on; any other field it carries (the kernel's carry
        // none) is newer than what came before.
        peers[position].allowedIPs += fragment.allowedIPs
        if let endpoint = fragment.endpoint { peers[position].endpoint = endpoint }
        if let keepalive = fragment.persistentKeepalive { peers[position].persistentKeepalive = keepalive }
        if let handshake = fragment.lastHandshake { peers[position].lastHandshake = handshake }
        if let rx = fragment.rxBytes { peers[position].rxBytes = rx }
        if let tx = fragment.txBytes { peers[position].txBytes = tx }
    }
}

/// One element of `WGDEVICE_A_PEERS`: a whole peer, or a continuation of one. Absent fields
/// are nil so that merging never overwrites a value with a default.
private struct PeerFragment {
    var publicKey: PublicKey
    var endpoint: Endpoint?
    var persistentKeepalive: UInt16?
    /// nil: not in this fragment; `.some(nil)`: present, no handshake yet.
    var lastHandshake: Timestamp??
    var rxBytes: UInt64?
    var txBytes: UInt64?
    var allowedIPs: [IPPrefix] = []

    init(_ payload: ArraySlice<UInt8>) throws(MeshError) {
        var key: PublicKey?
        var endpoint: Endpoint?
        var keepalive: UInt16?
        var handshake: Timestamp??
        var rx: UInt64?
        var tx: UInt64?
        var allowedIPs: [IPPrefix] = []
        for attribute in try parse(payload, "a peer").all {
            switch attribute.type {
            case WGPeer.publicKey:
                guard attribute.payload.count == PublicKey.byteCount, let parsed = try? PublicKey(bytes: Array(attribute.payload)) else {
                    throw malformedDump("a peer's WGPEER_A_PUBLIC_KEY is not a 32-byte key")
                }
                key = parsed
            case WGPeer.endpoint:
                endpoint = try MeshKernel.endpoint(fromSockaddr: attribute.payload)
            case WGPeer.persistentKeepaliveInterval:
                keepalive = try integer(attribute, "WGPEER_A_PERSISTENT_KEEPALIVE_INTERVAL")
            case WGPeer.lastHandshakeTime:
                handshake = .some(try timestamp(attribute.payload))
            case WGPeer.rxBytes:
                rx = try integer(attribute, "WGPEER_A_RX_BYTES")
            case WGPeer.txBytes:
                tx = try integer(attribute, "WGPEER_A_TX_BYTES")
            case WGPeer.allowedIPs:
                for element in try parse(attribute.payload, "WGPEER_A_ALLOWEDIPS").all {
                    allowedIPs.append(try allowedIP(element.payload))
                }
            default:
                // WGPEER_A_UNSPEC (the u64 pad), PRESHARED_KEY (a secret the model does not
                // hold), PROTOCOL_VERSION, and attributes of newer kernels.
                continue
            }
        }
        guard let key else { throw malformedDump("a peer has no WGPEER_A_PUBLIC_KEY") }
        publicKey = key
        self.endpoint = endpoint
        persistentKeepalive = keepalive
        lastHandshake = handshake
        rxBytes = rx
        txBytes = tx
        self.allowedIPs = allowedIPs
    }
}

/// `{ FAMILY u16, IPADDR 4|16 bytes, CIDR_MASK u8 }`, in any order (the kernel writes the mask first).
private func allowedIP(_ payload: ArraySlice<UInt8>) throws(MeshError) -> IPPrefix {
    var family: UInt16?
    var address: ArraySlice<UInt8>?
    var length: UInt8?
    for attribute in try parse(payload, "an allowed IP").all {
        switch attribute.type {
        case WGAllowedIP.family: family = try integer(attribute, "WGALLOWEDIP_A_FAMILY")
        case WGAllowedIP.ipAddress: address = attribute.payload
        case WGAllowedIP.cidrMask: length = try integer(attribute, "WGALLOWEDIP_A_CIDR_MASK")
        default: continue
        }
    }
    guard let family, let address, let length else {
        throw malformedDump("an allowed IP lacks its family, address or prefix length")
    }
    let size = family == WGFamily.inet ? 4 : family == WGFamily.inet6 ? 16 : 0
    guard size > 0, address.count == size else {
        throw malformedDump("an allowed IP of family \(family) has a \(address.count)-byte address")
    }
    guard Int(length) <= size * 8 else {
        throw malformedDump("an allowed IP has prefix length /\(length), more than \(size * 8) bits")
    }
    var masked = Array(address)
    for i in masked.indices {
        let kept = max(0, min(8, Int(length) - 8 * i))
        masked[i] &= kept == 0 ? 0 : ~UInt8(0) << UInt8(8 - kept)
    }
    // Cannot fail: the size matches the family and the host bits are cleared.
    guard let ip = IPAddress(bytes: masked), let prefix = try? IPPrefix(address: ip, length: Int(length)) else {
        throw malformedDump("an allowed IP cannot be represented")
    }
    return prefix
}

/// `struct __kernel_timespec` (two s64) or, from old 32-bit kernels, `struct timespec` (two s32).
private func timestamp(_ payload: ArraySlice<UInt8>) throws(MeshError) -> Timestamp? {
    let seconds: Int64, nanoseconds: Int64
    switch payload.count {
    case 16:
        seconds = payload.loadHostOrder(Int64.self, at: 0)
        nanoseconds = payload.loadHostOrder(Int64.self, at: 8)
    case 8:
        seconds = Int64(payload.loadHostOrder(Int32.self, at: 0))
        nanoseconds = Int64(payload.loadHostOrder(Int32.self, at: 4))
    default:
        throw malformedDump("WGPEER_A_LAST_HANDSHAKE_TIME has \(payload.count) bytes, expected 16")
    }
    guard seconds != 0 || nanoseconds != 0 else { return nil }
    return Timestamp(seconds: Double(seconds) + Double(nanoseconds) / 1e9)
}

private func parse(_ bytes: ArraySlice<UInt8>, _ what: String) throws(MeshError) -> NetlinkAttributes {
    do {
        return try NetlinkAttributes(parsing: bytes)
    } catch {
        throw malformedDump("in \(what): \(error.detail)")
    }
}

/// A host-order integer attribute of exactly `T`'s size.
private func integer<T: FixedWidthInteger>(_ attribute: NetlinkAttributes.Attribute, _ what: String) throws(MeshError) -> T {
    guard attribute.payload.count == MemoryLayout<T>.size else {
        throw malformedDump("\(what) has \(attribute.payload.count) bytes, expected \(MemoryLayout<T>.size)")
    }
    return attribute.payload.loadHostOrder(T.self, at: 0)
}
