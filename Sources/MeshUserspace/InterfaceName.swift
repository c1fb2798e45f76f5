import MeshCore

/// Checks a device name the way the kernel's dev_valid_name does (1–15 bytes, not `.` or `..`,
/// no `/`, `:` or whitespace). The name becomes a path component of the socket, so this also
/// keeps it from escaping the socket directory.
func validateInterfaceName(_ name: String) throws(MeshError) {
    let bytes = Array(name.utf8)
    guard (1...15).contains(bytes.count), name != ".", name != "..",
          !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7f })
    else {
        throw MeshError(.invalidArgument,
                        "'\(name.prefix(40))' is not a valid interface name (1-15 bytes, no '/', ':' or whitespace)")
    }
}
