import MeshCore

extension UAPI {
    /// Encodes `patch` as one `set=1` request, blank line included, in wg(8)'s field order:
    /// device fields, then each peer in patch order (so the same key may appear twice, as the
    /// planner's placeholder moves require).
    ///
    /// A peer marked `remove` gets only `remove=true`; `update_only=true` comes straight after
    /// `public_key`, before anything that could create the peer. An empty patch still encodes
    /// to a valid (no-op) request; ``UserspaceDevices`` does not send one.
    ///
    /// When the patch sets a private key, the result holds it in hex: zero the array after
    /// sending it and never log it. Use ``redacted(_:)`` to look at a request.
    public static func encodeSet(_ patch: DevicePatch) -> [UInt8] {
        // Everything after the private key line is public, so it is built first in its own
        // array; the final array is then allocated once at its exact size, and the key is never
        // left behind in a buffer freed by growth.
        var rest: [UInt8] = []
        rest.reserveCapacity(64 + patch.peers.count * 160)
        if let port = patch.listenPort { rest.appendLine("listen_port=\(port)") }
        if let mark = patch.fwmark { rest.appendLine("fwmark=\(mark)") }
        if patch.replacePeers { rest.appendLine("replace_peers=true") }
        for peer in patch.peers {
            rest.appendLine("public_key=\(peer.publicKey.hex)")
            if peer.remove {
                rest.appendLine("remove=true")
                continue
            }
            if peer.updateOnly { rest.appendLine("update_only=true") }
            if let endpoint = peer.endpoint { rest.appendLine("endpoint=\(endpoint)") }
            if let keepalive = peer.persistentKeepalive { rest.appendLine("persistent_keepalive_interval=\(keepalive)") }
            if peer.replaceAllowedIPs { rest.appendLine("replace_allowed_ips=true") }
            for prefix in peer.allowedIPs { rest.appendLine("allowed_ip=\(prefix)") }
        }
        rest.append(newline)

        let head = Array("set=1\n".utf8)
        let keyLine = Array("private_key=".utf8)
        var out: [UInt8] = []
        out.reserveCapacity(head.count + (patch.privateKey == nil ? 0 : keyLine.count + 65) + rest.count)
        out += head
        if let key = patch.privateKey {
            out += keyLine
            key.withUnsafeBytes { bytes in
                for byte in bytes {
                    out.append(hexDigits[Int(byte >> 4)])
                    out.append(hexDigits[Int(byte & 0xf)])
                }
            }
            out.append(newline)
        }
        out += rest
        return out
    }
}

let newline = UInt8(ascii: "\n")
private let hexDigits = Array("0123456789abcdef".utf8)

extension [UInt8] {
    mutating func appendLine(_ line: String) {
        append(contentsOf: line.utf8)
        append(newline)
    }
}
