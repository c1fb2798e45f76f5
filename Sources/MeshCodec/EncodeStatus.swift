public import MeshCore

extension RecordCodec {
    /// A node's status as JSON: the same bytes as the generic `encode(_:)` (sorted keys,
    /// absent optionals left out, JSONEncoder's escapes and number forms), written directly.
    ///
    /// Why by hand: every agent writes its status after each change it applies, and the
    /// status lists every peer. In a 100-node cluster with real agents, JSONEncoder on this
    /// one record was 11 % of all CPU while keys changed; this writer does the same in a small
    /// fraction of that. `EncodeStatusTests` holds it to JSONEncoder's bytes. Records are
    /// still decoded with JSONDecoder.
    public static func encode(_ status: NodeStatusRecord) -> [UInt8] {
        var out = JSONBytes()
        out.bytes.reserveCapacity(256 + status.peers.count * 200)
        out.raw("{\"appliedRevision\":"); out.integer(status.appliedRevision)
        if let backend = status.backend { out.raw(",\"backend\":"); out.string(backend.rawValue) }
        out.raw(",\"enabled\":"); out.bool(status.enabled)
        // Sorted as JSONEncoder sorts: by code point, so "inSync" comes before "incompletePeers".
        out.raw(",\"inSync\":"); out.bool(status.inSync)
        if let incomplete = status.incompletePeers {
            out.raw(",\"incompletePeers\":[")
            for (i, node) in incomplete.enumerated() {
                if i > 0 { out.raw(",") }
                out.string(node)
            }
            out.raw("]")
        }
        out.raw(",\"interface\":"); out.string(status.interface)
        if let error = status.lastError { out.raw(",\"lastError\":"); out.string(error) }
        out.raw(",\"node\":"); out.string(status.node)
        out.raw(",\"peers\":[")
        for (i, peer) in status.peers.enumerated() {
            if i > 0 { out.raw(",") }
            out.raw("{\"allowedIPs\":[")
            for (j, prefix) in peer.allowedIPs.enumerated() {
                if j > 0 { out.raw(",") }
                out.string(prefix)
            }
            out.raw("]")
            if let endpoint = peer.endpoint { out.raw(",\"endpoint\":"); out.string(endpoint) }
            if let handshake = peer.lastHandshake { out.raw(",\"lastHandshake\":"); out.double(handshake.seconds) }
            out.raw(",\"node\":"); out.string(peer.node)
            out.raw(",\"publicKeyFingerprint\":"); out.string(peer.publicKeyFingerprint)
            out.raw(",\"rxBytes\":"); out.integer(peer.rxBytes)
            out.raw(",\"txBytes\":"); out.integer(peer.txBytes)
            out.raw("}")
        }
        out.raw("],\"publicKeyFingerprint\":"); out.string(status.publicKeyFingerprint)
        out.raw(",\"strict\":"); out.bool(status.strict)
        if let totals = status.totals {
            out.raw(",\"totals\":{\"count\":"); out.integer(totals.count)
            if let handshake = totals.latestHandshake { out.raw(",\"latestHandshake\":"); out.double(handshake.seconds) }
            out.raw(",\"listed\":"); out.bool(totals.listed)
            out.raw(",\"rxBytes\":"); out.integer(totals.rxBytes)
            out.raw(",\"txBytes\":"); out.integer(totals.txBytes)
            out.raw("}")
        }
        out.raw(",\"updatedAt\":"); out.double(status.updatedAt.seconds)
        out.raw("}")
        return out.bytes
    }
}

/// The pieces of JSON the status needs, in JSONEncoder's forms (`.withoutEscapingSlashes`).
private struct JSONBytes {
    var bytes: [UInt8] = []

    mutating func raw(_ text: StaticString) {
        text.withUTF8Buffer { bytes.append(contentsOf: $0) }
    }

    mutating func bool(_ value: Bool) {
        value ? raw("true") : raw("false")
    }

    mutating func integer<T: BinaryInteger>(_ value: T) {
        bytes.append(contentsOf: String(value).utf8)
    }

    /// JSONEncoder writes a Double as its shortest round-trip description without a
    /// trailing ".0". Statuses never hold NaN or infinities (times come from clocks).
    mutating func double(_ value: Double) {
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        bytes.append(contentsOf: text.utf8)
    }

    /// A quoted string with JSON's escapes: quote, backslash, the named control characters,
    /// other controls as `\u00xx` (lowercase hex); everything else, `/` and non-ASCII
    /// included, as is.
    mutating func string(_ value: String) {
        bytes.append(UInt8(ascii: "\""))
        for byte in value.utf8 {
            switch byte {
            case UInt8(ascii: "\""): raw("\\\"")
            case UInt8(ascii: "\\"): raw("\\\\")
            case 0x08: raw("\\b")
            case 0x0c: raw("\\f")
            case 0x0a: raw("\\n")
            case 0x0d: raw("\\r")
            case 0x09: raw("\\t")
            case 0x00...0x1f:
                raw("\\u00")
                bytes.append(hexDigit(byte >> 4))
                bytes.append(hexDigit(byte & 0xf))
            default:
                bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}
