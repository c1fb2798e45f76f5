import Foundation
import MeshCore

/// What lab to build: its name and size. Addresses follow from it (see ``Lab``).
///
/// `id` names every namespace of the lab (`<id>-fab`, `<id>-n1`, `<id>-n1-p1`), its mount-namespace
/// directory (`/run/meshguard-lab/<id>`) and its temporary directory, so two labs with different
/// ids never collide; the underlay and pod addresses may repeat between labs, since each lab's
/// fabric is a separate namespace.
public struct LabSpec: Hashable, Sendable {
    /// 1 to 12 characters, lowercase letters and digits, starting with a letter. No dashes, so
    /// that `<id>-` never prefixes another lab's names.
    public var id: String
    /// Number of nodes, 1...244 (node i has underlay address 192.168.x.(10+i)).
    public var nodeCount: Int
    /// Pods per node, 0...253 (pod j has address 10.244.i.(1+j)).
    public var podsPerNode: Int
    /// The x in the underlay 192.168.x.0/24.
    public var underlayThirdOctet: UInt8
    /// An IPv4 /16; node i's pod CIDR is its i-th /24.
    public var podCIDRBase: IPPrefix

    // A literal that parses; `try!` cannot fail here.
    public static let defaultPodCIDRBase = try! IPPrefix("10.244.0.0/16")

    public init(id: String = LabSpec.uniqueID(), nodeCount: Int = 3, podsPerNode: Int = 2,
                underlayThirdOctet: UInt8 = 77, podCIDRBase: IPPrefix = LabSpec.defaultPodCIDRBase) {
        self.id = id
        self.nodeCount = nodeCount
        self.podsPerNode = podsPerNode
        self.underlayThirdOctet = underlayThirdOctet
        self.podCIDRBase = podCIDRBase
    }

    /// A fresh id: "mg" and six random base-36 characters. Unique enough for parallel test
    /// runs; ``Lab/create(_:)`` still refuses an id whose namespaces exist.
    public static func uniqueID(prefix: String = "mg") -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        return prefix + String((0..<6).map { _ in alphabet.randomElement()! })
    }

    /// Throws `.invalidArgument` naming the first field out of range.
    public func validate() throws(MeshError) {
        let chars = Array(id.utf8)
        guard (1...12).contains(chars.count),
              chars.allSatisfy({ (0x61...0x7a).contains($0) || (0x30...0x39).contains($0) }),
              (0x61...0x7a).contains(chars[0]) else {
            throw MeshError(.invalidArgument,
                "lab id '\(id.prefix(40))' must be 1-12 lowercase letters or digits, starting with a letter")
        }
        guard (1...244).contains(nodeCount) else {
            throw MeshError(.invalidArgument, "a lab has 1...244 nodes, not \(nodeCount)")
        }
        guard (0...253).contains(podsPerNode) else {
            throw MeshError(.invalidArgument, "a node has 0...253 pods, not \(podsPerNode)")
        }
        guard podCIDRBase.family == .inet, podCIDRBase.length == 16 else {
            throw MeshError(.invalidArgument, "the pod CIDR base must be an IPv4 /16, not \(podCIDRBase)")
        }
    }

    // MARK: derived names and addresses (valid only for a validated spec)

    var fabricNamespace: String { "\(id)-fab" }
    func nodeNamespace(_ node: Int) -> String { "\(id)-n\(node)" }
    func podNamespace(node: Int, pod: Int) -> String { "\(id)-n\(node)-p\(pod)" }

    var underlayPrefix: IPPrefix {
        // 192.168.x.0/24 has no host bits set for any x.
        try! IPPrefix(address: .v4(0xC0A8_0000 | UInt32(underlayThirdOctet) << 8), length: 24)
    }
    /// br0's own address in the fabric, where a test may run the datastore.
    var fabricAddress: IPAddress { underlayPrefix.address(at: 1)! }
    func nodeAddress(_ node: Int) -> IPAddress { underlayPrefix.address(at: 10 + node)! }
    func podCIDR(_ node: Int) -> IPPrefix {
        try! IPPrefix(address: podCIDRBase.address(at: node << 8)!, length: 24)
    }
    func gatewayAddress(_ node: Int) -> IPAddress { podCIDR(node).address(at: 1)! }
    func podAddress(node: Int, pod: Int) -> IPAddress { podCIDR(node).address(at: 1 + pod)! }

    /// Every network-namespace name the lab owns, fabric first.
    var allNamespaceNames: [String] {
        var names = [fabricNamespace]
        for n in 1...nodeCount {
            names.append(nodeNamespace(n))
            if podsPerNode > 0 {
                for p in 1...podsPerNode { names.append(podNamespace(node: n, pod: p)) }
            }
        }
        return names
    }
}
