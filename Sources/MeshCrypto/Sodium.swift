import CSodium

/// libsodium is initialised once per process. Swift runs a global's initialiser exactly once,
/// under a lock, and `sodium_init` is itself idempotent and thread-safe, so every entry point
/// of this module calls ``requireSodium()`` first.
private let sodiumInitialised: Bool = sodium_init() >= 0

/// Traps when libsodium cannot start (no usable randomness source): nothing in this module can
/// work safely without it, and carrying on would produce predictable keys.
func requireSodium() {
    precondition(sodiumInitialised, "libsodium failed to initialise (sodium_init returned -1)")
}

/// Overwrites `buffer` with zeros in a way the optimizer does not remove.
func wipe(_ buffer: UnsafeMutableRawBufferPointer) {
    guard let base = buffer.baseAddress, buffer.count > 0 else { return }
    sodium_memzero(base, buffer.count)
}

/// Overwrites the array's storage with zeros in place.
func wipe(_ bytes: inout [UInt8]) {
    bytes.withUnsafeMutableBytes { wipe($0) }
}
