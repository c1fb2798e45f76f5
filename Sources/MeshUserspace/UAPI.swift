/// The WireGuard cross-platform userspace API (UAPI): the `key=value` text protocol spoken over
/// `/var/run/wireguard/<interface>.sock` by wireguard-go and wg(8).
///
/// This namespace holds the pure codec: bytes in, values out, no I/O. Requests and replies are
/// byte arrays rather than strings because they can hold a private key in hex; strings cannot be
/// wiped. ``UserspaceDevices`` does the I/O.
public enum UAPI {}
