import Foundation
import MeshCore
import MeshCrypto

/// `count` peers with random public keys; even ones get a /24 from 10.0.0.0/9 (below
/// 10.127.0.0/16, which the one-peer change uses), odd ones a /32 from 10.128.0.0/9, so no two
/// overlap; endpoints in 192.0.2.0/24 (TEST-NET-1).
func makeConfig(peers count: Int) -> DeviceConfig {
    var generator = SystemRandomNumberGenerator()
    let peers = (0..<count).map { i -> PeerConfig in
        let key = try! PublicKey(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let j = i / 2
        let prefix = i % 2 == 0
            ? try! IPPrefix("10.\(j >> 8).\(j & 255).0/24")
            : try! IPPrefix("10.\(128 + (j >> 16)).\(j >> 8 & 255).\(j & 255)/32")
        return PeerConfig(publicKey: key, endpoint: try! Endpoint("192.0.2.\(i % 254 + 1):51820"), allowedIPs: [prefix])
    }
    return DeviceConfig(privateKey: KeyGeneration.generatePrivateKey(), listenPort: 51820, fwmark: 0, peers: peers)
}

/// Writes `config` as a wg(8) configuration file readable only by root. The private key goes
/// from its zeroed-after-use buffer straight into the file, never through argv or a string.
func writeWgConfig(_ config: DeviceConfig, to path: String) throws {
    let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
    guard fd >= 0 else { throw BenchError("cannot create \(path): errno \(errno)") }
    defer { close(fd) }
    func put(_ bytes: UnsafeRawBufferPointer) throws {
        guard write(fd, bytes.baseAddress!, bytes.count) == bytes.count else { throw BenchError("cannot write \(path)") }
    }
    func put(_ text: String) throws { try Array(text.utf8).withUnsafeBytes { try put($0) } }
    try put("[Interface]\nPrivateKey = ")
    try KeyEncoding.withBase64(of: config.privateKey) { try put($0) }
    var body = "\nListenPort = \(config.listenPort)\nFwMark = \(config.fwmark == 0 ? "off" : "\(config.fwmark)")\n"
    for peer in config.peers {
        body += "\n[Peer]\nPublicKey = \(peer.publicKey.base64)\n"
        body += "AllowedIPs = \(peer.allowedIPs.map { "\($0)" }.joined(separator: ", "))\n"
        if let endpoint = peer.endpoint { body += "Endpoint = \(endpoint)\n" }
    }
    try put(body)
}

