/// One node's data-plane settings: from the agent's flags, with documented defaults.
public struct NodeSettings: Hashable, Sendable {
    public static let defaultInterface = "meshguard0"
    /// Beside WireGuard's customary 51820 (Calico uses 51820/51821), so both can run at once.
    public static let defaultListenPort: UInt16 = 51830
    /// One bit outside the marks in common use: kube-proxy 0x4000/0x8000, Calico's 0xffff0000
    /// range, Cilium's 0x0f00 and 0x1e00 magic marks.
    public static let defaultFwmark: UInt32 = 0x2000
    /// Above 255, so it cannot collide with Calico's tables 1–250 or the kernel's 253–255.
    public static let defaultTable: UInt32 = 51830
    /// Ahead of Calico's 99 and of the main table (32766).
    public static let defaultRulePriority: UInt32 = 95
    /// WireGuard overhead over an IPv4 underlay: 20 (IP) + 8 (UDP) + 32 (WireGuard header and tag).
    public static let ipv4Overhead = 60
    public static let ipv6Overhead = 80

    public var node: NodeName
    public var interface: String
    public var listenPort: UInt16
    public var fwmark: UInt32
    public var table: UInt32
    public var rulePriority: UInt32
    /// The node's underlay address: where peers send its encrypted traffic.
    public var address: IPAddress
    /// The node's own pod CIDRs.
    public var podCIDRs: [IPPrefix]
    /// The address put on the device so traffic the node itself sends to remote pods has a
    /// source inside its own pod CIDR (peers only accept sources in its AllowedIPs). nil: none.
    public var tunnelAddress: IPAddress?
    /// Device MTU set on this node's command line; wins over the cluster setting.
    public var mtu: Int?

    public init(node: NodeName, interface: String = defaultInterface, listenPort: UInt16 = defaultListenPort,
                fwmark: UInt32 = defaultFwmark, table: UInt32 = defaultTable, rulePriority: UInt32 = defaultRulePriority,
                address: IPAddress, podCIDRs: [IPPrefix], tunnelAddress: IPAddress?, mtu: Int? = nil) {
        self.node = node
        self.interface = interface
        self.listenPort = listenPort
        self.fwmark = fwmark
        self.table = table
        self.rulePriority = rulePriority
        self.address = address
        self.podCIDRs = podCIDRs
        self.tunnelAddress = tunnelAddress
        self.mtu = mtu
    }

    /// The first host address of the first pod CIDR (`10.244.1.1` for `10.244.1.0/24`), the
    /// address a CNI bridge conventionally has.
    public static func defaultTunnelAddress(for podCIDRs: [IPPrefix]) -> IPAddress? {
        guard let first = podCIDRs.first, first.length < first.address.bitWidth else { return podCIDRs.first?.address }
        return first.address(at: 1)
    }

    /// Checks flag values that the type system cannot: interface name length and characters,
    /// the mark being non-zero, the table being one the kernel lets us own.
    public func validate() throws(MeshError) {
        guard !interface.isEmpty, interface.utf8.count <= 15,
              interface.utf8.allSatisfy({ $0 > 32 && $0 < 127 && $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: ":") }) else {
            throw MeshError(.invalidArgument, "--interface '\(interface)' must be 1-15 printable characters without '/' or ':'")
        }
        guard fwmark != 0 else { throw MeshError(.invalidArgument, "--fwmark must not be 0") }
        guard ![0, 253, 254, 255].contains(table) else {
            throw MeshError(.invalidArgument, "--table \(table) is reserved by the kernel (0, 253 default, 254 main, 255 local)")
        }
        guard listenPort != 0 else { throw MeshError(.invalidArgument, "--listen-port must be 1-65535") }
        guard !podCIDRs.isEmpty else { throw MeshError(.invalidArgument, "--pod-cidr is required (at least one)") }
        if let mtu, !(576...65535).contains(mtu) {
            throw MeshError(.invalidArgument, "--mtu \(mtu) is out of range (576-65535)")
        }
        if let tunnelAddress, !podCIDRs.contains(where: { $0.contains(tunnelAddress) }) {
            throw MeshError(.invalidArgument, "--tunnel-address \(tunnelAddress) is not inside this node's pod CIDRs")
        }
    }
}
