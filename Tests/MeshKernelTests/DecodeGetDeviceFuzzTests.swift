import MeshCore
import MeshKernel
import MeshTestKit
import Netlink
import Testing

/// The decoder reads what the kernel sends, so it must survive anything: truncated, oversized
/// and random messages give an error or a state, never a trap. Deterministic seeds, so a
/// failure reproduces; a trap would kill the test process, which is the failure this guards.
@Suite("Decoding GET_DEVICE: fuzzing")
struct DecodeGetDeviceFuzzTests {
    /// Valid dumps to mutate: the hand-built one and kernel-shaped ones with continuations.
    static let seeds: [[NetlinkMessage]] = {
        var model = KernelModel(name: "wg0")
        model.privateKey = [UInt8](repeating: 0x42, count: 32)
        for n in 0..<12 {
            model.peers.append(KernelModel.Peer(key: numberedKey(n), endpoint: n % 3 == 0 ? sockaddrIn6([UInt8](repeating: 0x20, count: 16), port: 1) : nil,
                                                keepalive: UInt16(n), allowedIPs: (0..<9).map { hostPrefix(n * 9 + $0) }))
        }
        return [DecodeGetDeviceTests.threePartDump(), model.dump(partSize: 512, pads: true), model.dump(partSize: 4096)]
    }()

    /// What a decoded state must satisfy whatever the input was.
    static func checkInvariants(_ state: DeviceState) {
        #expect(zip(state.peers, state.peers.dropFirst()).allSatisfy { $0.publicKey < $1.publicKey },
                "peers sorted by key, each key once")
        #expect(state.peers.allSatisfy { zip($0.allowedIPs, $0.allowedIPs.dropFirst()).allSatisfy { $0 <= $1 } })
    }

    @Test func randomMutationsOfValidDumps() {
        var generator = SeededGenerator(seed: 20_261_125)
        var decoded = 0, refused = 0
        for round in 0..<6_000 {
            var messages = Self.seeds[round % Self.seeds.count]
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                Self.mutate(&messages, using: &generator)
            }
            do {
                Self.checkInvariants(try decodeGetDevice(messages))
                decoded += 1
            } catch {
                refused += 1
            }
        }
        // Both outcomes must occur, or the mutations are not reaching the parser.
        #expect(decoded > 500, "decoded \(decoded)")
        #expect(refused > 500, "refused \(refused)")
    }

    @Test func randomBuffersSplitAndDecoded() {
        var generator = SeededGenerator(seed: 7)
        for _ in 0..<3_000 {
            let length = Int.random(in: 0...600, using: &generator)
            var bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            // Often a plausible header, so that the split gets past the first length check.
            if length >= 20, Bool.random(using: &generator) {
                bytes.replaceSubrange(0..<4, with: le32(UInt32(length)))
                bytes.replaceSubrange(4..<6, with: le16(testFamilyID))
                bytes[16] = 0
            }
            guard let messages = try? NetlinkMessage.split(bytes) else { continue }
            if let state = try? decodeGetDevice(messages) { Self.checkInvariants(state) }
        }
    }

    @Test func everyTruncationOfAPart() {
        for seed in Self.seeds {
            for (index, message) in seed.enumerated() {
                for cut in 0..<message.payload.count {
                    var messages = seed
                    messages[index].payload = Array(message.payload.prefix(cut))
                    if let state = try? decodeGetDevice(messages) { Self.checkInvariants(state) }
                }
            }
        }
    }

    static func mutate(_ messages: inout [NetlinkMessage], using generator: inout SeededGenerator) {
        guard !messages.isEmpty else {
            messages = [genlMessage([])]
            return
        }
        let i = Int.random(in: 0..<messages.count, using: &generator)
        var payload = messages[i].payload
        switch Int.random(in: 0..<9, using: &generator) {
        case 0 where !payload.isEmpty:  // flip a byte
            payload[Int.random(in: 0..<payload.count, using: &generator)] = UInt8.random(in: 0...255, using: &generator)
        case 1:  // truncate
            payload = Array(payload.prefix(Int.random(in: 0...payload.count, using: &generator)))
        case 2:  // grow with random bytes
            payload += (0..<Int.random(in: 1...64, using: &generator)).map { _ in UInt8.random(in: 0...255, using: &generator) }
        case 3 where payload.count >= 8:  // an attribute length somewhere becomes huge, zero or odd
            let at = 4 + Int.random(in: 0...(payload.count - 6) / 4, using: &generator) * 4
            let length = [0, 1, 3, 4, 5, 0xFFFF, UInt16.random(in: 0...UInt16.max, using: &generator)].randomElement(using: &generator)!
            payload.replaceSubrange(at..<(at + 2), with: le16(UInt16(truncatingIfNeeded: length)))
        case 4 where payload.count >= 8:  // an attribute type changes (nested flag included)
            let at = 4 + Int.random(in: 0...(payload.count - 8) / 4, using: &generator) * 4 + 2
            payload.replaceSubrange(at..<(at + 2), with: le16(UInt16.random(in: 0...12, using: &generator) | (Bool.random(using: &generator) ? 0x8000 : 0)))
        case 5:  // a part repeated (duplicate peers and allowed IPs)
            messages.insert(messages[i], at: Int.random(in: 0...messages.count, using: &generator))
            return
        case 6:  // a part dropped
            messages.remove(at: i)
            return
        case 7:  // parts swapped
            messages.swapAt(i, Int.random(in: 0..<messages.count, using: &generator))
            return
        default:  // another message type or command
            messages[i].type = [1, 2, 3, 0x10, testFamilyID, UInt16.random(in: 0...0xFFFF, using: &generator)].randomElement(using: &generator)!
            if !payload.isEmpty, Bool.random(using: &generator) { payload[0] = UInt8.random(in: 0...2, using: &generator) }
        }
        messages[i].payload = payload
    }
}
