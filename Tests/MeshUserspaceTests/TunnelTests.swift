import Foundation
import MeshCore
import MeshCrypto
import MeshTestKit
import MeshUserspace
import Testing

/// Two wireguard-go devices in two namespaces joined by a veth pair: a real handshake and a ping
/// through the tunnel, all addresses inside the namespaces.
@Suite(.enabled(if: TestNamespace.isRoot && TestNamespace.commandExists("wireguard-go"),
                "needs root and wireguard-go; CI runs as root with wireguard-go installed"))
struct TunnelTests {
    @Test func handshakeAndPingThroughTheTunnel() async throws {
        try await withLabs(["tna", "tnb"]) { labs in
            let (a, b) = (labs[0], labs[1])
            let (wgA, wgB) = (a.newDeviceName(), b.newDeviceName())
            let vethA = wgA + "v"
            try TestNamespace.run(["ip", "link", "add", vethA, "netns", a.namespace.name, "type", "veth",
                                   "peer", "name", "eth0", "netns", b.namespace.name])
            try a.namespace.run(["ip", "addr", "add", "fd00:77::1/64", "dev", vethA, "nodad"])
            try a.namespace.run(["ip", "link", "set", vethA, "up"])
            try b.namespace.run(["ip", "addr", "add", "fd00:77::2/64", "dev", "eth0", "nodad"])
            try b.namespace.run(["ip", "link", "set", "eth0", "up"])

            let keyA = KeyGeneration.generatePrivateKey()
            let keyB = KeyGeneration.generatePrivateKey()
            let configA = DeviceConfig(privateKey: keyA, listenPort: 51820, fwmark: 0, peers: [
                PeerConfig(publicKey: KeyGeneration.publicKey(for: keyB), endpoint: try Endpoint("[fd00:77::2]:51821"),
                           allowedIPs: [try IPPrefix("10.77.0.2/32")]),
            ])
            let configB = DeviceConfig(privateKey: keyB, listenPort: 51821, fwmark: 0, peers: [
                PeerConfig(publicKey: KeyGeneration.publicKey(for: keyA), endpoint: try Endpoint("[fd00:77::1]:51820"),
                           allowedIPs: [try IPPrefix("10.77.0.1/32")]),
            ])
            for (lab, name, config, address) in [(a, wgA, configA, "10.77.0.1/24"), (b, wgB, configB, "10.77.0.2/24")] {
                try await lab.devices.ensureDevice(named: name)
                let observed = try #require(try await lab.devices.device(named: name))
                try await lab.devices.apply(plan(desired: config, observed: observed,
                                                 options: PlanOptions(removeUnknownPeers: true)), to: name)
                try lab.namespace.run(["ip", "addr", "add", address, "dev", name])
                try lab.namespace.run(["ip", "link", "set", name, "up"])
            }

            // The first echo can be lost while the handshake completes; retry for a while.
            var answered = false
            for _ in 0..<10 where !answered {
                answered = (try? a.namespace.run(["ping", "-c", "1", "-W", "1", "10.77.0.2"])) != nil
            }
            #expect(answered, "ping through the tunnel")

            let stateA = try #require(try await a.devices.device(named: wgA))
            let peer = try #require(stateA.peers.first)
            #expect(peer.lastHandshake != nil, "a handshake completed")
            #expect(peer.rxBytes > 0 && peer.txBytes > 0)
            #expect(peer.endpoint == (try Endpoint("[fd00:77::2]:51821")))
            let stateB = try #require(try await b.devices.device(named: wgB))
            #expect(stateB.peers.first?.lastHandshake != nil)
        }
    }
}
