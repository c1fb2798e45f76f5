import Glibc
import Netlink

/// Overwrites the bytes with zeros. `explicit_bzero` is the C library's promise that the
/// stores survive optimisation even though the buffer is freed right after.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { raw in
        guard let base = raw.baseAddress, raw.count > 0 else { return }
        explicit_bzero(base, raw.count)
    }
}

/// Wipes the payloads of a dump, which hold the device's private key.
func wipe(_ messages: inout [NetlinkMessage]) {
    for i in messages.indices { wipe(&messages[i].payload) }
}
