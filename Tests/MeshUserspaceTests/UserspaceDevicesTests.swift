import Foundation
import MeshCore
import MeshCrypto
import MeshTestKit
@testable import MeshUserspace
import Testing

/// The backend against real wireguard-go processes, each test in its own namespace.
@Suite(.enabled(if: TestNamespace.isRoot && TestNamespace.commandExists("wireguard-go"),
                "needs root and wireguard-go; CI runs as root with wireguard-go installed"))
struct UserspaceDevicesTests {
    let removeUnknown = PlanOptions(removeUnknownPeers: true)

    @Test func configureReadBackAndAgreeWithWgShow() async throws {
        try await withLab("cfg") { lab in
            let name = lab.newDeviceName()
            #expect(try await lab.devices.ensureDevice(named: name))
            #expect(try await lab.devices.ensureDevice(named: name) == false, "a running device is left alone")
            #expect(lab.linkExists(name))

            let fresh = try #require(try await lab.devices.device(named: name))
            #expect(fresh.privateKey == nil)
            #expect(fresh.peers.isEmpty)

            let desired = sampleConfig(peers: 3)
            try await lab.devices.apply(plan(desired: desired, observed: fresh, options: removeUnknown), to: name)
            let state = try #require(try await lab.devices.device(named: name))
            #expect(state.privateKey == desired.privateKey)
            #expect(Configured(state) == Configured(desired))
            #expect(plan(desired: desired, observed: state, options: removeUnknown).isEmpty,
                    "what was read back is exactly what was asked for")

            // wg(8) reads the same device through the same socket.
            let dump = try lab.namespace.run(["wg", "show", name, "dump"])
            let rows = dump.split(separator: "\n").map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
            let device = try #require(rows.first)
            try #require(device.count == 4)
            let privateKeyMatches = KeyEncoding.withBase64(of: desired.privateKey) { String(decoding: $0, as: UTF8.self) } == device[0]
            #expect(privateKeyMatches, "wg show reports the private key that was set")
            #expect(device[1] == KeyGeneration.publicKey(for: desired.privateKey).base64)
            #expect(device[2] == "51820")
            #expect(device[3] == "0x1234")
            let peers = rows.dropFirst().map { row in
                row.count == 8 ? [row[0], row[2], row[3].split(separator: ",").sorted().joined(separator: ","), row[7]].joined(separator: " ") : "bad row \(row.count)"
            }.sorted()
            let expected = desired.peers.map { peer in
                [peer.publicKey.base64, peer.endpoint.map { "\($0)" } ?? "(none)",
                 peer.allowedIPs.map { "\($0)" }.sorted().joined(separator: ","),
                 peer.persistentKeepalive == 0 ? "off" : "\(peer.persistentKeepalive)"].joined(separator: " ")
            }.sorted()
            #expect(peers == expected)
        }
    }

    @Test func incrementalChangesTouchOnlyWhatChanged() async throws {
        try await withLab("inc") { lab in
            let name = lab.newDeviceName()
            try await lab.devices.ensureDevice(named: name)
            let original = sampleConfig(peers: 3)
            try await converge(lab, name, to: original)

            // One more CIDR for one peer: an update-only patch carrying just that prefix.
            var grown = original
            let a = grown.peers[0]
            grown.peers[0] = PeerConfig(publicKey: a.publicKey, endpoint: a.endpoint,
                                        allowedIPs: a.allowedIPs + [try IPPrefix("10.200.0.0/16")],
                                        persistentKeepalive: a.persistentKeepalive)
            let addition = plan(desired: grown, observed: try await read(lab, name), options: removeUnknown)
            #expect(addition.peers == [PeerPatch(publicKey: a.publicKey, updateOnly: true,
                                                 allowedIPs: [try IPPrefix("10.200.0.0/16")])])
            try await lab.devices.apply(addition, to: name)
            #expect(Configured(try await read(lab, name)) == Configured(grown))

            // update_only never creates a peer.
            let stranger = KeyGeneration.publicKey(for: KeyGeneration.generatePrivateKey())
            try await lab.devices.apply(DevicePatch(peers: [PeerPatch(publicKey: stranger, updateOnly: true,
                                                                      allowedIPs: [try IPPrefix("10.201.0.0/16")])]), to: name)
            #expect(Configured(try await read(lab, name)) == Configured(grown))

            // One CIDR less for another peer: the placeholder takes it and is removed; the peer
            // keeps its other prefixes.
            var shrunk = grown
            let b = shrunk.peers[1]
            let dropped = b.allowedIPs[0]
            shrunk.peers[1] = PeerConfig(publicKey: b.publicKey, endpoint: b.endpoint,
                                         allowedIPs: Array(b.allowedIPs.dropFirst()), persistentKeepalive: b.persistentKeepalive)
            let removal = plan(desired: shrunk, observed: try await read(lab, name), options: removeUnknown)
            #expect(removal.peers.map(\.publicKey) == [placeholderPeerKey, placeholderPeerKey])
            try await lab.devices.apply(removal, to: name)
            let afterRemoval = try await read(lab, name)
            #expect(Configured(afterRemoval) == Configured(shrunk))
            #expect(!afterRemoval.peers.contains { $0.publicKey == placeholderPeerKey })
            #expect(!afterRemoval.peers.contains { $0.allowedIPs.contains(dropped) })

            // A peer removed; device fields changed, fwmark 0 switching the mark off.
            var smaller = shrunk
            smaller.peers.remove(at: 2)
            smaller.listenPort = 51999
            smaller.fwmark = 0
            try await converge(lab, name, to: smaller)
            #expect(try await read(lab, name).peers.count == 2)
        }
    }

    /// The agent trusts `DeviceState.applying(_:)` between read-backs; wireguard-go must agree
    /// with it after every kind of patch the planner makes, and some it does not.
    @Test func theCoreModelOfEachPatchIsWhatWireGuardGoReports() async throws {
        try await withLab("mdl") { lab in
            let name = lab.newDeviceName()
            try await lab.devices.ensureDevice(named: name)
            var expected = try await read(lab, name)
            let config = sampleConfig(peers: 3)
            let (a, b, c) = (config.peers[0], config.peers[1], config.peers[2])
            let newcomer = KeyGeneration.publicKey(for: KeyGeneration.generatePrivateKey())
            let patches: [(String, DevicePatch)] = [
                ("initial load", plan(desired: config, observed: expected, options: removeUnknown)),
                ("a prefix added", DevicePatch(peers: [PeerPatch(publicKey: a.publicKey, updateOnly: true, allowedIPs: [try IPPrefix("10.200.0.0/16")])])),
                ("update-only for a stranger", DevicePatch(peers: [PeerPatch(publicKey: newcomer, updateOnly: true, allowedIPs: [try IPPrefix("10.201.0.0/16")])])),
                ("a prefix taken by a new peer", DevicePatch(peers: [PeerPatch(publicKey: newcomer, endpoint: try Endpoint("192.168.77.40:51820"),
                                                                              allowedIPs: [b.allowedIPs[0]])])),
                ("the placeholder move", DevicePatch(peers: [PeerPatch(publicKey: placeholderPeerKey, allowedIPs: [try IPPrefix("10.200.0.0/16")]),
                                                            .removal(of: placeholderPeerKey)])),
                ("replace allowed IPs, keepalive and endpoint", DevicePatch(peers: [PeerPatch(publicKey: c.publicKey, endpoint: try Endpoint("192.168.77.41:51830"),
                                                                                             persistentKeepalive: 25, replaceAllowedIPs: true,
                                                                                             allowedIPs: [try IPPrefix("10.202.0.0/24")])])),
                ("a removal and device fields", DevicePatch(listenPort: 51999, fwmark: 0, peers: [.removal(of: a.publicKey)])),
            ]
            for (what, patch) in patches {
                try await lab.devices.apply(patch, to: name)
                expected = expected.applying(patch)
                // Counters aside: a peer with a keepalive may have tried a handshake.
                #expect(withoutCounters(try await read(lab, name)) == withoutCounters(expected), "after \(what)")
            }
        }
    }

    @Test func aNewInstanceReattachesWithoutRestarting() async throws {
        try await withLab("att") { lab in
            let name = lab.newDeviceName()
            try await lab.devices.ensureDevice(named: name)
            try await converge(lab, name, to: sampleConfig(peers: 3))
            let before = try await read(lab, name)
            let pid = try #require(lab.daemonPID(name))

            // The agent restarts: a new backend object with the same configuration.
            let restarted = UserspaceDevices(configuration: Lab.configuration(for: lab.namespace))
            #expect(try await restarted.ensureDevice(named: name) == false)
            #expect(try await restarted.device(named: name) == before)
            #expect(lab.daemonPID(name) == pid, "the same process serves the device")
        }
    }

    @Test func wireguardGoIsDetachedFromTheAgent() async throws {
        try await withLab("det") { lab in
            // A descriptor without close-on-exec, as any library in the agent might leave open.
            var ends: [Int32] = [-1, -1]
            try #require(pipe(&ends) == 0)
            defer { close(ends[0]); close(ends[1]) }
            var info = stat()
            fstat(ends[0], &info)

            let name = lab.newDeviceName()
            try await lab.devices.ensureDevice(named: name)
            let pid = try #require(lab.daemonPID(name))
            #expect(getsid(pid) != getsid(0), "own session: a signal to the agent's session or group misses it")
            #expect(getpgid(pid) != getpgrp())
            let links = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").compactMap {
                try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")
            }
            #expect(!links.contains("pipe:[\(info.st_ino)]"), "wireguard-go must not inherit the agent's descriptors")
            let environment = try String(contentsOfFile: "/proc/\(pid)/environ", encoding: .utf8).split(separator: "\0")
            #expect(environment.contains("LOG_LEVEL=error"))
        }
    }

    @Test func aKilledDaemonReadsAsGoneAndIsRestarted() async throws {
        try await withLab("kil") { lab in
            let name = lab.newDeviceName()
            try await lab.devices.ensureDevice(named: name)
            try await converge(lab, name, to: sampleConfig(peers: 1))
            let pid = try #require(lab.daemonPID(name))

            kill(pid, SIGKILL)
            #expect(await eventually { WireGuardGoProcess.hasExited(pid) })
            #expect(fileExists(lab.socketPath(name)), "kill -9 leaves the socket file behind")
            #expect(try await lab.devices.device(named: name) == nil)
            let error = await #expect(throws: MeshError.self) {
                try await lab.devices.apply(DevicePatch(listenPort: 1), to: name)
            }
            #expect(error?.code == .notFound)

            #expect(try await lab.devices.ensureDevice(named: name), "the stale socket is replaced")
            let restarted = try #require(lab.daemonPID(name))
            #expect(restarted != pid)
            let state = try #require(try await lab.devices.device(named: name))
            #expect(state.privateKey == nil && state.peers.isEmpty, "a new process starts empty; the agent re-applies")
        }
    }

    @Test func deleteStopsTheProcessAndRemovesTheDevice() async throws {
        try await withLab("del") { lab in
            let name = lab.newDeviceName()
            try await lab.devices.ensureDevice(named: name)
            let pid = try #require(lab.daemonPID(name))
            #expect(lab.linkExists(name))

            try await lab.devices.deleteDevice(named: name)
            #expect(WireGuardGoProcess.hasExited(pid), "deleteDevice returns once the process is gone")
            #expect(!lab.linkExists(name))
            #expect(!fileExists(lab.socketPath(name)))
            #expect(try await lab.devices.device(named: name) == nil)
            try await lab.devices.deleteDevice(named: name) // missing: not an error

            // A dead process's socket is cleaned up too.
            let stale = lab.newDeviceName()
            try await lab.devices.ensureDevice(named: stale)
            let stalePID = try #require(lab.daemonPID(stale))
            kill(stalePID, SIGKILL)
            #expect(await eventually { WireGuardGoProcess.hasExited(stalePID) })
            try await lab.devices.deleteDevice(named: stale)
            #expect(!fileExists(lab.socketPath(stale)))
        }
    }

    @Test func failuresAreReportedWithTheirCause() async throws {
        try await withLab("err") { lab in
            // wireguard-go refuses a port another device holds: errno -98 (EADDRINUSE).
            let first = lab.newDeviceName()
            let second = lab.newDeviceName()
            try await lab.devices.ensureDevice(named: first)
            try await lab.devices.ensureDevice(named: second)
            try await lab.devices.apply(DevicePatch(listenPort: 51820), to: first)
            let inUse = await #expect(throws: MeshError.self) {
                try await lab.devices.apply(DevicePatch(listenPort: 51820), to: second)
            }
            #expect(inUse?.code == .backendFailure)
            #expect(inUse?.errno == 98)
            #expect(inUse?.message.contains("Address already in use") == true)

            // The same rejection at the head of a request far larger than the socket buffers:
            // wireguard-go answers and hangs up while we are still writing; the errno still
            // comes back, not a broken pipe.
            var large = plan(desired: sampleConfig(peers: 3000, listenPort: 51820), observed: try await read(lab, second),
                             options: removeUnknown)
            large.privateKey = nil
            let cutShort = await #expect(throws: MeshError.self) { try await lab.devices.apply(large, to: second) }
            #expect(cutShort?.code == .backendFailure)
            #expect(cutShort?.errno == 98)
            #expect(try await read(lab, second).peers.isEmpty, "nothing after the rejected line was applied")

            // A name another kind of interface already has: wireguard-go's own words come back.
            let taken = lab.newDeviceName()
            try lab.namespace.run(["ip", "link", "add", taken, "type", "veth", "peer", "name", taken + "p"])
            let clash = await #expect(throws: MeshError.self) { try await lab.devices.ensureDevice(named: taken) }
            #expect(clash?.code == .backendFailure)
            #expect(clash?.message.contains("Failed to create TUN device") == true, "\(clash?.message ?? "")")
            #expect(clash?.message.contains("Running wireguard-go is not required") == false, "the banner is dropped")
            #expect(!fileExists(lab.socketPath(taken)))

            let missing = await #expect(throws: MeshError.self) {
                try await lab.devices.apply(DevicePatch(fwmark: 1), to: lab.newDeviceName())
            }
            #expect(missing?.code == .notFound)
        }
    }

    // MARK: helpers

    private func withoutCounters(_ state: DeviceState) -> DeviceState {
        var state = state
        for i in state.peers.indices {
            state.peers[i].lastHandshake = nil
            state.peers[i].rxBytes = 0
            state.peers[i].txBytes = 0
        }
        return state
    }

    private func read(_ lab: Lab, _ name: String) async throws -> DeviceState {
        try #require(try await lab.devices.device(named: name))
    }

    /// Plans from what the device reports, applies, and checks the result.
    private func converge(_ lab: Lab, _ name: String, to desired: DeviceConfig,
                          sourceLocation: SourceLocation = #_sourceLocation) async throws {
        let observed = try await read(lab, name)
        try await lab.devices.apply(plan(desired: desired, observed: observed, options: removeUnknown), to: name)
        let state = try await read(lab, name)
        #expect(state.privateKey == desired.privateKey, sourceLocation: sourceLocation)
        #expect(Configured(state) == Configured(desired), sourceLocation: sourceLocation)
    }
}
