import Foundation
import MeshCore
import MeshKernel
import MeshTestKit
import Testing

/// Against a kernel with WireGuard: each test in its own network namespace, read back through
/// the backend and, where wg(8) is installed, cross-checked with `wg show`. These run inside
/// the QEMU VM (Debian's kernel with wireguard.ko); on the build machines they are skipped.
@Suite("KernelDevices against kernel WireGuard",
       .enabled(if: TestNamespace.isRoot && KernelWireGuard.available, "needs a kernel with WireGuard (runs in the QEMU VM)"))
struct KernelDevicesVMTests {
    let options = PlanOptions(removeUnknownPeers: true)

    /// The fields a configuration sets, for comparing what was asked with what was read.
    struct Configured: Equatable {
        struct Peer: Equatable {
            var key: PublicKey, endpoint: Endpoint?, allowedIPs: [IPPrefix], keepalive: UInt16
        }
        var privateKey: PrivateKey?, listenPort: UInt16, fwmark: UInt32, peers: [Peer]
        init(_ state: DeviceState) {
            privateKey = state.privateKey
            (listenPort, fwmark) = (state.listenPort, state.fwmark)
            peers = state.peers.map { Peer(key: $0.publicKey, endpoint: $0.endpoint, allowedIPs: $0.allowedIPs, keepalive: $0.persistentKeepalive) }
        }
        init(_ config: DeviceConfig) {
            privateKey = config.privateKey
            (listenPort, fwmark) = (config.listenPort, config.fwmark)
            peers = config.peers.map { Peer(key: $0.publicKey, endpoint: $0.endpoint, allowedIPs: $0.allowedIPs, keepalive: $0.persistentKeepalive) }
        }
    }

    static func config(peers: Int, ipsPerPeer: Int = 1, key: UInt8 = 1, port: UInt16 = 51820, mark: UInt32 = 0x2000) -> DeviceConfig {
        DeviceConfig(privateKey: .fixture(key), listenPort: port, fwmark: mark, peers: (0..<peers).map { n in
            PeerConfig(publicKey: numberedKey(n), endpoint: Endpoint(address: .v4(0xC000_0200 + UInt32(n % 250)), port: 51820),
                       allowedIPs: (0..<ipsPerPeer).map { hostPrefix(n * ipsPerPeer + $0) }, persistentKeepalive: n % 2 == 0 ? 25 : 0)
        })
    }

    /// Plans from what the device reports, applies, reads back; the result must be what was asked.
    @discardableResult
    func converge(_ devices: KernelDevices, _ name: String, to desired: DeviceConfig) async throws -> DeviceState {
        let observed = try #require(try await devices.device(named: name))
        try await devices.apply(plan(desired: desired, observed: observed, options: options), to: name)
        let state = try #require(try await devices.device(named: name))
        #expect(Configured(state) == Configured(desired))
        #expect(plan(desired: desired, observed: state, options: options).isEmpty, "nothing left to do")
        return state
    }

    func withDevice(_ prefix: String, bufferSize: Int? = nil,
                    _ body: (KernelDevices, TestNamespace) async throws -> Void) async throws {
        let namespace = try TestNamespace(prefix)
        defer { namespace.destroy() }
        let devices = bufferSize.map { KernelDevices(networkNamespacePath: namespace.path, messageBufferSize: $0) }
            ?? KernelDevices(networkNamespacePath: namespace.path)
        #expect(try await devices.ensureDevice(named: "wg0"))
        try await body(devices, namespace)
    }

    @Test func ensureIsIdempotentAndDeleteRemovesTheLink() async throws {
        try await withDevice("kvm-ensure") { devices, namespace in
            #expect(try await devices.ensureDevice(named: "wg0") == false, "an existing device is left alone")
            let details = try namespace.run(["ip", "-d", "link", "show", "wg0"])
            #expect(details.contains("wireguard"), "ip says: \(details)")
            #expect(!details.contains(",UP"), "not brought up: the agent does that")
            let fresh = try #require(try await devices.device(named: "wg0"))
            #expect(fresh == DeviceState(name: "wg0", privateKey: nil, listenPort: 0, fwmark: 0, peers: []))

            try await devices.deleteDevice(named: "wg0")
            try await devices.deleteDevice(named: "wg0")
            #expect(try await devices.device(named: "wg0") == nil)
            #expect(try linkNames(in: namespace) == ["lo"])
            #expect(try await devices.ensureDevice(named: "wg0"), "created again")
        }
    }

    @Test func onePeerRoundTripAgreesWithWgShow() async throws {
        try await withDevice("kvm-one") { devices, namespace in
            let desired = DeviceConfig(privateKey: .fixture(5), listenPort: 51820, fwmark: 0x2000, peers: [
                PeerConfig(publicKey: numberedKey(1), endpoint: try Endpoint("[2001:db8::1]:51821"),
                           allowedIPs: [.must("10.244.1.0/24"), .must("fd00:244:1::/64")], persistentKeepalive: 25),
            ])
            try await converge(devices, "wg0", to: desired)
            guard TestNamespace.commandExists("wg") else { return }
            let dump = try namespace.run(["wg", "show", "wg0", "dump"]).split(separator: "\n").map { $0.split(separator: "\t").map(String.init) }
            #expect(dump.first?[2] == "51820" && dump.first?[3] == "0x2000")
            let peer = try #require(dump.dropFirst().first)
            #expect(peer[0] == numberedKey(1).base64)
            #expect(peer[2] == "[2001:db8::1]:51821")
            #expect(peer[3].split(separator: ",").sorted() == ["10.244.1.0/24", "fd00:244:1::/64"])
            #expect(peer[7] == "25")
        }
    }

    @Test(.timeLimit(.minutes(5)))
    func fiveThousandPeers() async throws {
        try await withDevice("kvm-5k") { devices, _ in
            let clock = ContinuousClock()
            let start = clock.now
            let state = try await converge(devices, "wg0", to: Self.config(peers: 5_000))
            #expect(state.peers.count == 5_000)
            print("5,000 peers: set and read back twice in \(clock.now - start)")
        }
    }

    @Test func peerWithTwoThousandAllowedIPs() async throws {
        try await withDevice("kvm-2k") { devices, _ in
            let state = try await converge(devices, "wg0", to: Self.config(peers: 3, ipsPerPeer: 2_000))
            #expect(state.peers.map(\.allowedIPs.count) == [2_000, 2_000, 2_000])
        }
    }

    @Test func tinyMessagesSplitEverythingAndTheKernelAgrees() async throws {
        // 256-byte messages: peers and their allowed IPs cross message boundaries all the time.
        try await withDevice("kvm-tiny", bufferSize: 256) { devices, _ in
            try await converge(devices, "wg0", to: Self.config(peers: 40, ipsPerPeer: 17))
        }
    }

    @Test func removalKeyChangeListenPortAndFwmark() async throws {
        try await withDevice("kvm-change") { devices, _ in
            try await converge(devices, "wg0", to: Self.config(peers: 10))
            var fewer = Self.config(peers: 10)
            fewer.peers.removeAll { $0.publicKey == numberedKey(3) }
            let state = try await converge(devices, "wg0", to: fewer)
            #expect(!state.peers.contains { $0.publicKey == numberedKey(3) })
            var changed = Self.config(peers: 10, key: 9, port: 40000, mark: 0x4000)
            changed.peers.removeAll { $0.publicKey == numberedKey(3) }
            let after = try await converge(devices, "wg0", to: changed)
            #expect(after.privateKey == .fixture(9) && after.listenPort == 40000 && after.fwmark == 0x4000)
            #expect(after.peers.count == 9, "a key change keeps the peers")
        }
    }

    @Test func placeholderRemovalLeavesTheOtherPrefixes() async throws {
        try await withDevice("kvm-placeholder") { devices, _ in
            var desired = Self.config(peers: 3, ipsPerPeer: 4)
            try await converge(devices, "wg0", to: desired)
            let dropped = desired.peers[1].allowedIPs.removeFirst()
            let patch = plan(desired: desired, observed: try #require(try await devices.device(named: "wg0")), options: options)
            #expect(patch.peers.map(\.publicKey) == [placeholderPeerKey, placeholderPeerKey])
            try await devices.apply(patch, to: "wg0")
            let state = try #require(try await devices.device(named: "wg0"))
            #expect(Configured(state) == Configured(desired))
            #expect(!state.peers.contains { $0.publicKey == placeholderPeerKey || $0.allowedIPs.contains(dropped) })
        }
    }

    @Test func replacePeersAndUpdateOnly() async throws {
        try await withDevice("kvm-replace") { devices, _ in
            try await converge(devices, "wg0", to: Self.config(peers: 5))
            // UPDATE_ONLY for a peer that is not there creates nothing, however many fragments.
            try await devices.apply(DevicePatch(peers: [PeerPatch(publicKey: numberedKey(99), updateOnly: true,
                                                                  allowedIPs: (0..<1_000).map { hostPrefix(50_000 + $0) })]), to: "wg0")
            #expect(try await devices.device(named: "wg0")?.peers.count == 5)
            try await devices.apply(DevicePatch(replacePeers: true, peers: [PeerPatch(publicKey: numberedKey(7), allowedIPs: [hostPrefix(7)])]), to: "wg0")
            #expect(try await devices.device(named: "wg0")?.peers.map(\.publicKey) == [numberedKey(7)])
        }
    }

    @Test func otherKindsAndMissingDevices() async throws {
        let namespace = try TestNamespace("kvm-other")
        defer { namespace.destroy() }
        try namespace.run(["ip", "link", "add", "mg0", "type", "veth", "peer", "name", "mg0p"])
        let devices = KernelDevices(networkNamespacePath: namespace.path)
        #expect(try await devices.device(named: "mg0") == nil, "a veth is no WireGuard device")
        #expect(try await devices.device(named: "wg9") == nil)
        let missing = try await #require(throws: MeshError.self) { try await devices.apply(DevicePatch(listenPort: 1), to: "wg9") }
        #expect(missing.code == .notFound)
        let veth = try await #require(throws: MeshError.self) { try await devices.apply(DevicePatch(listenPort: 1), to: "mg0") }
        #expect(veth.code == .notFound, "\(veth)")
        #expect(KernelDevices.availability(networkNamespacePath: namespace.path) == .available)
    }
}
