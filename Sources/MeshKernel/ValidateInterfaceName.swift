import MeshCore

/// Checks a device name the way the kernel's `dev_valid_name` does (1–15 bytes, not `.` or
/// `..`, no `/`, `:`, whitespace or NUL), before it goes into `IFLA_IFNAME` or
/// `WGDEVICE_A_IFNAME`. libmnl does not bound the string, and the kernel's answer to a bad
/// name (`EINVAL`, or `ERANGE` from the genl policy) would not say what was wrong.
func validateInterfaceName(_ name: String) throws(MeshError) {
    let bytes = Array(name.utf8)
    guard (1...WireGuardGenl.maximumNameLength).contains(bytes.count), name != ".", name != "..",
          !bytes.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 0x20 || $0 == 0x7f })
    else {
        throw MeshError(.invalidArgument,
                        "'\(name.prefix(40))' is not a valid interface name (1-15 bytes, no '/', ':' or whitespace)")
    }
}
