import MeshCore

extension UAPI {
    /// Decodes the reply to `get=1` into the state of the device called `name`.
    ///
    /// Understood device keys: `private_key` (hex), `listen_port`, `fwmark`. Peer keys, each
    /// peer starting at `public_key`: `endpoint` (`ip:port` or `[ipv6]:port`), `allowed_ip`,
    /// `persistent_keepalive_interval`, `last_handshake_time_sec`/`_nsec` (both 0 means no
    /// handshake yet, decoded as nil), `rx_bytes`, `tx_bytes`. `preshared_key` and
    /// `protocol_version` are read past. Any other key is ignored, not an error, so that a newer
    /// wireguard-go that reports more (as it did with `protocol_version`) still works; a known
    /// key with a bad value is an error. Absent fields decode as zero, as wireguard-go omits
    /// zero `listen_port`, `fwmark` and an unset private key.
    ///
    /// Peers come out sorted by public key, each peer's allowed IPs sorted.
    ///
    /// The private key's hex digits are decoded straight into the key's own storage; no string
    /// ever holds them. The caller should still wipe `reply`.
    ///
    /// - Throws: `.backendFailure` when the reply ends in a non-zero `errno=` (wireguard-go could
    ///   not read the device), and when it is malformed: a line without `=`, a bad value for a
    ///   known key, a peer field before any `public_key`, no final `errno=` line and blank line,
    ///   or anything after it. Never traps on any input.
    public static func decodeGet(_ reply: [UInt8], name: String) throws(MeshError) -> DeviceState {
        var parser = GetReplyParser(name: name)
        return try parser.parse(reply)
    }
}

private struct GetReplyParser {
    let name: String
    var privateKey: PrivateKey?
    var listenPort: UInt16 = 0
    var fwmark: UInt32 = 0
    var peers: [PeerState] = []
    var peer: PeerState?
    var handshakeSeconds: UInt64 = 0
    var handshakeNanoseconds: UInt64 = 0
    var lineNumber = 0

    init(name: String) { self.name = name }

    mutating func parse(_ reply: [UInt8]) throws(MeshError) -> DeviceState {
        var start = 0
        var errnoSeen: Int32?
        while start < reply.count {
            guard let end = reply[start...].firstIndex(of: newline) else {
                throw problem("the reply ends in the middle of a line (truncated?)")
            }
            lineNumber += 1
            let line = reply[start..<end]
            start = end + 1
            if let errnoSeen {
                // After errno= only the terminating blank line may follow.
                guard line.isEmpty, start == reply.count else {
                    throw problem("unexpected data after 'errno=\(errnoSeen)'")
                }
                finishPeer()
                // wireguard-go lists peers in Go map order, which changes from one read to the
                // next; sorted, two reads of an unchanged device compare equal.
                peers.sort { $0.publicKey < $1.publicKey }
                return DeviceState(name: name, privateKey: privateKey, listenPort: listenPort,
                                   fwmark: fwmark, peers: peers)
            }
            guard !line.isEmpty else { throw problem("blank line before errno=") }
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                throw problem("'\(UAPI.shown(text(line)))' is not key=value")
            }
            let key = line[line.startIndex..<equals]
            let value = line[(equals + 1)..<line.endIndex]
            if key.elementsEqual("errno".utf8) {
                let number = try UAPI.errnoValue(Substring(text(value)))
                if number != 0 {
                    throw MeshError(.backendFailure,
                                    "wireguard-go could not report device \(name): \(UAPI.errnoName(number))",
                                    errno: number)
                }
                errnoSeen = number
                continue
            }
            try handle(key: key, value: value)
        }
        throw problem(errnoSeen == nil ? "the reply has no errno= line (truncated?)"
                                       : "the reply does not end with a blank line")
    }

    /// Dispatches on the key's bytes: a 5,000-peer reply has some 60,000 lines, and making a
    /// string of every key and number costs more than wireguard-go takes to write the reply.
    mutating func handle(key: ArraySlice<UInt8>, value: ArraySlice<UInt8>) throws(MeshError) {
        if key.elementsEqual(Key.publicKey) {
            finishPeer()
            guard let bytes = hexBytes(value, count: PublicKey.byteCount) else {
                throw problem("public_key '\(UAPI.shown(text(value)))' is not 64 hex digits")
            }
            do {
                peer = PeerState(publicKey: try PublicKey(bytes: bytes), endpoint: nil, allowedIPs: [])
            } catch {
                throw problem("bad public_key: \(error.message)")
            }
            return
        }
        guard peer != nil else {
            if key.elementsEqual(Key.privateKey) {
                privateKey = try decodePrivateKey(value)
            } else if key.elementsEqual(Key.listenPort) {
                listenPort = try number(key, value)
            } else if key.elementsEqual(Key.fwmark) {
                fwmark = try number(key, value)
            } else if Key.peerOnly.contains(where: { key.elementsEqual($0) }) {
                throw problem("'\(text(key))' before any public_key")
            }
            return // An unknown device key: ignored for forward compatibility.
        }
        if key.elementsEqual(Key.allowedIP) {
            do { peer!.allowedIPs.append(try IPPrefix(text(value))) } catch {
                throw problem("bad allowed_ip: \(error.message)")
            }
        } else if key.elementsEqual(Key.endpoint) {
            do { peer!.endpoint = try Endpoint(text(value)) } catch {
                throw problem("bad endpoint: \(error.message)")
            }
        } else if key.elementsEqual(Key.rxBytes) {
            peer!.rxBytes = try number(key, value)
        } else if key.elementsEqual(Key.txBytes) {
            peer!.txBytes = try number(key, value)
        } else if key.elementsEqual(Key.handshakeSeconds) {
            handshakeSeconds = try number(key, value)
        } else if key.elementsEqual(Key.handshakeNanoseconds) {
            handshakeNanoseconds = try number(key, value)
        } else if key.elementsEqual(Key.keepalive) {
            peer!.persistentKeepalive = try number(key, value)
        }
        // Anything else (preshared_key, protocol_version, keys of future versions) is skipped.
    }

    mutating func finishPeer() {
        guard var done = peer else { return }
        if handshakeSeconds != 0 || handshakeNanoseconds != 0 {
            done.lastHandshake = Timestamp(seconds: Double(handshakeSeconds) + Double(handshakeNanoseconds) / 1e9)
        }
        // Sorted like desired lists, so the planner compares them without building sets.
        if done.allowedIPs.count > 1 { done.allowedIPs.sort() }
        peers.append(done)
        peer = nil
        handshakeSeconds = 0
        handshakeNanoseconds = 0
    }

    /// Decodes 64 hex digits into a key without creating any intermediate string. All zeros
    /// (wireguard-go's "no key") decodes as nil. Messages never echo the digits.
    func decodePrivateKey(_ value: ArraySlice<UInt8>) throws(MeshError) -> PrivateKey? {
        guard var bytes = hexBytes(value, count: PrivateKey.byteCount) else {
            throw problem("private_key is not 64 hex digits")
        }
        defer { wipe(&bytes) }
        guard bytes.contains(where: { $0 != 0 }) else { return nil }
        do { return try PrivateKey(consuming: &bytes) } catch {
            throw problem("bad private_key: \(error.message)")
        }
    }

    func number<T: FixedWidthInteger & UnsignedInteger>(_ key: ArraySlice<UInt8>, _ value: ArraySlice<UInt8>) throws(MeshError) -> T {
        var result: T = 0
        var valid = !value.isEmpty
        for c in value where valid {
            let (shifted, overflow1) = result.multipliedReportingOverflow(by: 10)
            let (sum, overflow2) = shifted.addingReportingOverflow(T(truncatingIfNeeded: c &- 0x30))
            valid = (0x30...0x39).contains(c) && !overflow1 && !overflow2
            result = sum
        }
        guard valid else {
            throw problem("\(text(key))='\(UAPI.shown(text(value)))' is not a number in range for \(T.self)")
        }
        return result
    }

    func problem(_ description: String) -> MeshError {
        UAPI.malformed("device \(name), line \(lineNumber): \(description)")
    }
}

private enum Key {
    static let publicKey = Array("public_key".utf8)
    static let privateKey = Array("private_key".utf8)
    static let listenPort = Array("listen_port".utf8)
    static let fwmark = Array("fwmark".utf8)
    static let endpoint = Array("endpoint".utf8)
    static let allowedIP = Array("allowed_ip".utf8)
    static let keepalive = Array("persistent_keepalive_interval".utf8)
    static let handshakeSeconds = Array("last_handshake_time_sec".utf8)
    static let handshakeNanoseconds = Array("last_handshake_time_nsec".utf8)
    static let rxBytes = Array("rx_bytes".utf8)
    static let txBytes = Array("tx_bytes".utf8)
    /// Keys that only make sense inside a peer section.
    static let peerOnly = [endpoint, allowedIP, keepalive, handshakeSeconds, handshakeNanoseconds, rxBytes, txBytes,
                           Array("preshared_key".utf8), Array("protocol_version".utf8)]
}

/// Exactly `count` bytes from `2 * count` hex digits, or nil.
private func hexBytes(_ value: ArraySlice<UInt8>, count: Int) -> [UInt8]? {
    guard value.count == 2 * count else { return nil }
    var bytes = [UInt8](repeating: 0, count: count)
    var index = value.startIndex
    for i in 0..<count {
        guard let high = nibble(value[index]), let low = nibble(value[index + 1]) else {
            wipe(&bytes)
            return nil
        }
        bytes[i] = high << 4 | low
        index += 2
    }
    return bytes
}

private func text(_ bytes: ArraySlice<UInt8>) -> String { String(decoding: bytes, as: UTF8.self) }

private func nibble(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
}
