import MeshCore
import MeshKernel
import MeshTestKit
import Testing

/// encode(patch) → the kernel model applies the messages → the model's dump → decode, compared
/// with what the test kit's FakeWireGuardDevices makes of the same patch (WireGuard's
/// semantics written independently of any wire format).
@Suite("Round trips through a model of the kernel")
struct RoundTripTests {
    static func sorted(_ state: DeviceState) -> DeviceState {
        var copy = state
        copy.peers.sort { $0.publicKey < $1.publicKey }
        return copy
    }

    /// Applies `patch` to the model as KernelDevices would send it, and reads the model back.
    static func applyAndRead(_ patch: DevicePatch, to model: inout KernelModel, bufferSize: Int, partSize: Int) throws -> DeviceState {
        for message in try encodeSetDevice(patch, interface: model.name, familyID: testFamilyID, bufferSize: bufferSize) {
            #expect(message.count <= bufferSize)
            try model.apply(message)
        }
        return try decodeGetDevice(model.dump(partSize: partSize))
    }

    static func randomPatch(using generator: inout SeededGenerator, keys: [PublicKey], prefixes: [IPPrefix]) -> DevicePatch {
        var patch = DevicePatch()
        if Int.random(in: 0..<4, using: &generator) == 0 { patch.listenPort = UInt16.random(in: 1...65535, using: &generator) }
        if Int.random(in: 0..<4, using: &generator) == 0 { patch.fwmark = UInt32.random(in: 0...0xFFFF, using: &generator) }
        if Int.random(in: 0..<5, using: &generator) == 0 { patch.privateKey = .fixture(UInt8.random(in: 1...200, using: &generator)) }
        patch.replacePeers = Int.random(in: 0..<15, using: &generator) == 0
        for _ in 0..<Int.random(in: 0...25, using: &generator) {
            let key = keys.randomElement(using: &generator)!
            let roll = Int.random(in: 0..<10, using: &generator)
            if roll == 0 {
                patch.peers.append(.removal(of: key))
                continue
            }
            var change = PeerPatch(publicKey: key, updateOnly: roll == 1, replaceAllowedIPs: roll == 2)
            if Bool.random(using: &generator) {
                change.endpoint = Bool.random(using: &generator)
                    ? Endpoint(address: .v4(UInt32.random(in: 1...UInt32.max, using: &generator)), port: UInt16.random(in: 1...65535, using: &generator))
                    : Endpoint(address: .v6(UInt128(UInt64.random(in: 1...UInt64.max, using: &generator))), port: 51820)
            }
            if Bool.random(using: &generator) { change.persistentKeepalive = UInt16.random(in: 0...60, using: &generator) }
            // Prefixes shared by several peers: they move to the last peer that claims them.
            change.allowedIPs = (0..<Int.random(in: 0...60, using: &generator)).map { _ in prefixes.randomElement(using: &generator)! }
            change.allowedIPs = Array(Set(change.allowedIPs))
            patch.peers.append(change)
        }
        return patch
    }

    @Test func randomPatchSequencesAgreeWithTheFake() async throws {
        var generator = SeededGenerator(seed: 42)
        let keys = (0..<30).map(numberedKey)
        let prefixes = (0..<400).map { n in
            n % 4 == 0 ? try! IPPrefix(address: .v6(0xFD00 << 112 | UInt128(n) << 64), length: 64) : hostPrefix(n)
        }
        let fake = FakeWireGuardDevices(kind: .kernel)
        try await fake.ensureDevice(named: "wg0")
        var model = KernelModel(name: "wg0")
        for step in 0..<60 {
            let patch = Self.randomPatch(using: &generator, keys: keys, prefixes: prefixes)
            let bufferSize = [200, 300, 512, 1000, 4096].randomElement(using: &generator)!
            let partSize = [300, 1024, 4096].randomElement(using: &generator)!
            let read = try Self.applyAndRead(patch, to: &model, bufferSize: bufferSize, partSize: partSize)
            try await fake.apply(patch, to: "wg0")
            let expected = try #require(try await fake.device(named: "wg0"))
            #expect(read == Self.sorted(expected), "step \(step), buffer \(bufferSize), parts \(partSize)")
        }
    }

    /// Builds a desired configuration and converges a fresh device to it, then changes it in
    /// the ways the agent does; after each apply, planning again finds nothing to do.
    @Test func plannerConvergesThroughTheWireFormat() throws {
        var model = KernelModel(name: "wg0")
        let options = PlanOptions(removeUnknownPeers: true)
        func converge(_ desired: DeviceConfig, bufferSize: Int = 1024) throws -> DeviceState {
            let observed = try decodeGetDevice(model.dump())
            let patch = plan(desired: desired, observed: observed, options: options)
            let state = try Self.applyAndRead(patch, to: &model, bufferSize: bufferSize, partSize: 2048)
            #expect(plan(desired: desired, observed: state, options: options).isEmpty, "nothing left to do")
            return state
        }
        func config(_ peers: [PeerConfig], key: UInt8 = 1, port: UInt16 = 51820, mark: UInt32 = 0x2000) -> DeviceConfig {
            DeviceConfig(privateKey: .fixture(key), listenPort: port, fwmark: mark, peers: peers)
        }
        var peers = (0..<200).map { n in
            PeerConfig(publicKey: numberedKey(n), endpoint: Endpoint(address: .v4(0xC000_0200 + UInt32(n)), port: 51820),
                       allowedIPs: [hostPrefix(n), try! IPPrefix(address: .v4(0x0AF4_0000 | UInt32(n) << 8), length: 24)],
                       persistentKeepalive: 25)
        }
        var state = try converge(config(peers))
        #expect(state.peers.count == 200)

        // One prefix leaves a peer: the placeholder takes it and goes; the peer keeps the rest.
        peers[7].allowedIPs = [hostPrefix(7)]
        state = try converge(config(peers))
        #expect(state.peers.first { $0.publicKey == numberedKey(7) }?.allowedIPs == [hostPrefix(7)])
        #expect(!state.peers.contains { $0.publicKey == placeholderPeerKey })
        #expect(!state.peers.contains { $0.allowedIPs.contains(.must("10.244.7.0/24")) })

        // A prefix moves to another peer; a peer goes; a peer gets 2,000 prefixes.
        peers[8].allowedIPs.append(.must("10.200.0.0/16"))
        peers.remove(at: 9)
        peers[10].allowedIPs += (0..<2_000).map { hostPrefix(100_000 + $0) }
        state = try converge(config(peers), bufferSize: 4096)
        #expect(state.peers.count == 199)
        #expect(state.peers.first { $0.publicKey == numberedKey(11) }?.allowedIPs.count == 2_002)

        // Key, port and mark change.
        state = try converge(config(peers, key: 2, port: 51821, mark: 0x4000))
        #expect(state.privateKey == .fixture(2))
        #expect(state.listenPort == 51821 && state.fwmark == 0x4000)
    }

    @Test func kernelModelRefusesWhatTheKernelRefuses() throws {
        // The model is only worth its round trips if it is as strict as the kernel.
        var model = KernelModel(name: "wg0")
        let withoutNested = genlMessage(command: 1, flags: 5, [
            TLV.strz(A.ifname, "wg0"), TLV.nest(A.peers, [TLV.nest(0, [TLV.attr(A.peerKey, numberedKey(1).bytes)])], nested: false),
        ]).bytes
        #expect(throws: KernelModel.Refusal.self) { try model.apply(withoutNested) }
        let perPrefixFlag = genlMessage(command: 1, flags: 5, [
            TLV.strz(A.ifname, "wg0"), TLV.nest(A.peers, [TLV.nest(0, [TLV.attr(A.peerKey, numberedKey(1).bytes),
                TLV.nest(A.allowedIPs, [TLV.nest(0, [TLV.u16(A.ipFamily, 2), TLV.attr(A.ipAddress, [10, 0, 0, 1]), TLV.u8(A.cidr, 32),
                                                     TLV.u32(A.ipFlags, 1)])])])]),
        ]).bytes
        #expect(throws: KernelModel.Refusal(errno: 22, why: "attribute type 4 above the policy")) { try model.apply(perPrefixFlag) }
        let otherDevice = try encodeSetDevice(DevicePatch(listenPort: 1), interface: "wg1", familyID: testFamilyID)[0]
        #expect(throws: KernelModel.Refusal.self) { try model.apply(otherDevice) }
    }
}
