import CLibMNL
import Glibc

/// A link as `RTM_NEWLINK` reports it (the fields the mesh needs).
package struct LinkMessage: Hashable, Sendable {
    package var index: Int32
    /// `ifi_flags` (`IFF_UP`, `IFF_RUNNING`, …).
    package var flags: UInt32
    package var name: String
    package var mtu: UInt32
    /// `IFLA_LINKINFO` → `IFLA_INFO_KIND` ("veth", "tun", "wireguard"); nil for devices
    /// without a link driver kind (loopback, most physical NICs).
    package var kind: String?

    package init(index: Int32, flags: UInt32, name: String, mtu: UInt32, kind: String?) {
        self.index = index
        self.flags = flags
        self.name = name
        self.mtu = mtu
        self.kind = kind
    }

    package var isUp: Bool { flags & UInt32(IFF_UP) != 0 }
}
