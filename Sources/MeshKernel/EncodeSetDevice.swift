import MeshCore
import Netlink

/// Encodes `patch` as the `WG_CMD_SET_DEVICE` messages that apply it to the device
/// `interface`, split exactly as wg(8)'s `kernel_set_device` splits a configuration. Pure: no
/// socket, so tests compare the bytes and sizes.
///
/// Layout, message by message:
/// - Every message: `genlmsghdr`, `WGDEVICE_A_IFNAME`, then `WGDEVICE_A_PEERS` when peers remain.
/// - Only the first: `WGDEVICE_A_PRIVATE_KEY`, `_LISTEN_PORT`, `_FWMARK` when set, and
///   `WGDEVICE_A_FLAGS` = `REPLACE_PEERS` when asked for.
/// - Peers go in patch order (a patch may name a key twice: the placeholder-peer move is an
///   add followed by a removal, and must reach the kernel in that order) until a size-checked
///   put fails. A peer that does not fit is dropped from the message and starts the next one.
///   A peer whose allowed IPs overflow is closed after the last whole IP, and the next message
///   continues it with `PUBLIC_KEY`, its flags minus `REPLACE_ALLOWEDIPS`, and the remaining IPs.
/// - Every nest carries `NLA_F_NESTED` (libmnl sets it); the kernel has rejected nests without
///   it since 5.2. Peer and allowed-IP nests have type 0, which the kernel ignores.
/// - `WGALLOWEDIP_A_FLAGS` (per-prefix removal) is never sent: kernels before 2025 refuse the
///   whole message for it, and the planner removes one prefix with the placeholder peer instead.
///
/// The messages are acknowledged one by one (`NLM_F_REQUEST | NLM_F_ACK` are set; the sequence
/// number is left 0 for the socket to stamp). They are not a transaction: when message *k* is
/// refused, messages before it stay applied, so read the device back and plan again.
///
/// The first message holds the private key when the patch sets one: wipe the arrays once sent.
///
/// - Parameters:
///   - familyID: the "wireguard" generic netlink family id, `nlmsg_type` of every message.
///   - bufferSize: the largest message, in bytes. wg(8) uses the page-sized
///     ``NetlinkRequest/socketBufferSize``; tests pass small sizes to force splits.
/// - Returns: the messages in sending order; none for an empty patch.
/// - Throws: `.invalidArgument` for an interface name the kernel cannot take, a buffer too
///   small for the device attributes, or a peer that cannot make progress in an otherwise
///   empty message (its key, flags, endpoint and keepalive, or in a continuation its key and
///   one allowed IP, do not fit). Never loops: every message after the first writes at least
///   one attribute of a peer that the previous one did not.
public func encodeSetDevice(_ patch: DevicePatch, interface: String, familyID: UInt16,
                            bufferSize: Int = NetlinkRequest.socketBufferSize) throws(MeshError) -> [[UInt8]] {
    guard !patch.isEmpty else { return [] }
    try validateInterfaceName(interface)
    var encoder = SetDeviceEncoder(patch: patch, interface: interface, familyID: familyID, bufferSize: bufferSize)
    return try encoder.encode()
}

/// wg(8)'s `kernel_set_device` with its two cursors (`peer`, `allowedip`) as indices, and its
/// `goto toobig_peers` / `goto toobig_allowedips` as early returns from ``putPeer(_:into:)``.
private struct SetDeviceEncoder {
    let patch: DevicePatch
    let interface: String
    let familyID: UInt16
    let bufferSize: Int

    /// The peer the next message starts with.
    var peer = 0
    /// Within that peer, the next allowed IP; nil while the peer's first fragment (with its
    /// endpoint, keepalive and `REPLACE_ALLOWEDIPS`) has not been written.
    var allowedIP: Int?

    init(patch: DevicePatch, interface: String, familyID: UInt16, bufferSize: Int) {
        self.patch = patch
        self.interface = interface
        self.familyID = familyID
        self.bufferSize = bufferSize
    }

    mutating func encode() throws(MeshError) -> [[UInt8]] {
        var messages: [[UInt8]] = []
        repeat {
            let isFirst = messages.isEmpty
            let before = (peer, allowedIP)
            var request = try beginMessage()
            let keyOffset = isFirst ? try putDeviceAttributes(&request) : nil
            if peer < patch.peers.count { putPeers(&request) }
            // systemd-networkd once looped forever here (systemd PR #11418): a message after the
            // first that moved neither cursor would be sent again and again.
            if !isFirst && before == (peer, allowedIP) {
                throw MeshError(.invalidArgument,
                    "peer \(patch.peers[peer].publicKey.fingerprint) does not fit in an empty \(bufferSize)-byte WireGuard message")
            }
            var bytes = request.bytes
            if let keyOffset, let key = patch.privateKey {
                // The builder only ever held zeros here; the key goes into the final array alone.
                bytes.withUnsafeMutableBytes { destination in
                    key.withUnsafeBytes { destination.baseAddress!.advanced(by: keyOffset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                }
            }
            messages.append(bytes)
        } while peer < patch.peers.count
        return messages
    }

    private func beginMessage() throws(MeshError) -> NetlinkRequest {
        do {
            var request = try NetlinkRequest(family: familyID, command: WireGuardGenl.setDevice, version: WireGuardGenl.version,
                                             flags: [.request, .acknowledge], capacity: bufferSize)
            try request.put(WGDevice.ifname, string: interface)
            return request
        } catch {
            throw MeshError(.invalidArgument, "a \(bufferSize)-byte message cannot hold a WireGuard request for \(interface)")
        }
    }

    /// Puts the device attributes in wg(8)'s order. Returns the offset of the private key's 32
    /// bytes, which are written as zeros here and filled in by ``encode()``.
    private func putDeviceAttributes(_ request: inout NetlinkRequest) throws(MeshError) -> Int? {
        var keyOffset: Int?
        do {
            if patch.privateKey != nil {
                keyOffset = request.length + 4  // after the attribute header
                try request.put(WGDevice.privateKey, bytes: [UInt8](repeating: 0, count: WireGuardGenl.keyLength))
            }
            if let port = patch.listenPort { try request.put(WGDevice.listenPort, u16: port) }
            if let mark = patch.fwmark { try request.put(WGDevice.fwmark, u32: mark) }
            if patch.replacePeers { try request.put(WGDevice.flags, u32: WGDevice.replacePeers) }
        } catch {
            throw MeshError(.invalidArgument, "a \(bufferSize)-byte message cannot hold the device attributes of \(interface)")
        }
        return keyOffset
    }

    /// Appends peers from the cursor on until one does not fit; the cursor then says where the
    /// next message starts.
    private mutating func putPeers(_ request: inout NetlinkRequest) {
        // wg(8) opens this nest unchecked; checked here, a message too full for it just goes
        // without peers, and the next message (which has room) carries them.
        guard let peersNest = try? request.beginNest(WGDevice.peers) else { return }
        while peer < patch.peers.count {
            guard putPeer(patch.peers[peer], into: &request) else { break }
            peer += 1
            allowedIP = nil
        }
        request.endNest(peersNest)
    }

    /// Writes the current peer, or the rest of it. Returns false when the message is full.
    private mutating func putPeer(_ change: PeerPatch, into request: inout NetlinkRequest) -> Bool {
        guard let peerNest = try? request.beginNest(0) else { return false }
        do {
            try request.put(WGPeer.publicKey, bytes: change.publicKey.bytes)
            var flags: UInt32 = 0
            if change.remove { flags |= WGPeer.removeMe }
            // wg(8) never sends UPDATE_ONLY; wgctrl-go repeats it on every fragment, and so do
            // we. A continuation is a request of its own to the kernel: without the flag, when
            // the first fragment found no peer and did nothing, the continuation would create
            // the peer with only the tail of its allowed IPs and no endpoint. With it, the
            // continuation does nothing too; when the peer exists the flag changes nothing.
            // REMOVE_ME is repeated for the same reason (wg(8) does too), though a removal has
            // no allowed IPs here and so never continues.
            if change.updateOnly { flags |= WGPeer.updateOnly }
            if allowedIP == nil {
                // Only in the peer's first fragment: a continuation that replaced the allowed
                // IPs again would drop the ones the previous message just added.
                if change.replaceAllowedIPs && !change.remove { flags |= WGPeer.replaceAllowedIPs }
                if !change.remove {
                    if let endpoint = change.endpoint { try request.put(WGPeer.endpoint, bytes: sockaddrBytes(of: endpoint)) }
                    if let keepalive = change.persistentKeepalive {
                        try request.put(WGPeer.persistentKeepaliveInterval, u16: keepalive)
                    }
                }
            }
            if flags != 0 { try request.put(WGPeer.flags, u32: flags) }
        } catch {
            // toobig_peers: the peer's head does not fit; the whole peer starts the next message.
            request.cancelNest(peerNest)
            return false
        }
        // A removal's other fields are ignored (PeerPatch), so it sends no allowed IPs.
        guard !change.remove, !change.allowedIPs.isEmpty else {
            request.endNest(peerNest)
            return true
        }
        // From here on the head is written: whatever happens, the peer's first fragment is sent.
        var next = allowedIP ?? 0
        allowedIP = next
        guard let ipsNest = try? request.beginNest(WGPeer.allowedIPs) else {
            request.endNest(peerNest)
            return false
        }
        while next < change.allowedIPs.count {
            guard let ipNest = try? request.beginNest(0) else {
                request.endNest(ipsNest)
                request.endNest(peerNest)
                return false
            }
            do {
                try putAllowedIP(change.allowedIPs[next], into: &request)
            } catch {
                // toobig_allowedips: drop the half-written IP, close the lists, continue later.
                request.cancelNest(ipNest)
                request.endNest(ipsNest)
                request.endNest(peerNest)
                return false
            }
            request.endNest(ipNest)
            next += 1
            allowedIP = next
        }
        request.endNest(ipsNest)
        request.endNest(peerNest)
        return true
    }

    private func putAllowedIP(_ prefix: IPPrefix, into request: inout NetlinkRequest) throws(NetlinkError) {
        try request.put(WGAllowedIP.family, u16: prefix.family == .inet ? WGFamily.inet : WGFamily.inet6)
        try request.put(WGAllowedIP.ipAddress, bytes: prefix.address.bytes)
        try request.put(WGAllowedIP.cidrMask, u8: UInt8(prefix.length))
    }
}
