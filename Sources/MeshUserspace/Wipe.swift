import Glibc

/// Overwrites the array's bytes with zeros. `explicit_bzero` is the C library's promise that
/// the stores survive optimisation even though the buffer is about to be freed.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { wipe($0) }
}

func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    explicit_bzero(base, buffer.count)
}
