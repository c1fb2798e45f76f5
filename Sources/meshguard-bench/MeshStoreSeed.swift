import MeshCodec
import MeshCore
import MeshStoreSQLite

/// The datastore the `agent` benchmark starts from, written directly as the controller and
/// `meshguard enable` would: encryption on (not strict), the pool 10.0.0.0/8, and `count`
/// accepted peers, each with a random public key, an endpoint on the underlay 192.168.77.0/24
/// and one /32 of its own in 10.128.0.0/9 (none overlaps another or the agent's pod CIDR).
enum MeshStoreSeed {
    static let pool = "10.0.0.0/8"

    /// Writes the records into a new store at `path`, 500 peers per transaction.
    static func write(peers count: Int, to path: String) async throws -> [PeerRecord] {
        let store = try SQLiteDatastore(path: path)
        defer { store.close() }
        let config = ClusterConfig(enabled: true, strict: false)
        try await store.put(StoreKeys.config, value: RecordCodec.encode(config), lease: nil)
        try await store.put(StoreKeys.pools, value: RecordCodec.encode(PoolsRecord(podCIDRPools: [pool])), lease: nil)
        var generator = SystemRandomNumberGenerator()
        var records: [PeerRecord] = []
        for i in 0..<count {
            let bytes = (0..<PublicKey.byteCount).map { _ in UInt8.random(in: 0...255, using: &generator) }
            let key = try PublicKey(bytes: bytes)
            let host = i + 1
            records.append(PeerRecord(node: "peer-\(i)", publicKey: key.base64, keyGeneration: 1,
                                      endpoint: "192.168.77.\(12 + i % 240):51830",
                                      allowedIPs: ["10.\(128 + host >> 16).\(host >> 8 & 255).\(host & 255)/32"],
                                      claimRevision: 1))
        }
        for start in stride(from: 0, to: count, by: 500) {
            let operations = try records[start..<min(start + 500, count)].map { record in
                let key = StoreKeys.peer(try NodeName(record.node))
                return TransactionOperation.put(key: key, value: RecordCodec.encode(record), lease: nil)
            }
            _ = try await store.commit(Transaction(compares: [], success: operations))
        }
        return records
    }

    /// Puts `record` as the accepted peer record of its node.
    static func put(_ record: PeerRecord, into store: SQLiteDatastore) async throws {
        try await store.put(StoreKeys.peer(try NodeName(record.node)), value: RecordCodec.encode(record), lease: nil)
    }
}
