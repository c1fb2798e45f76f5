import MeshCodec
import MeshCore

/// Reads every Meshguard record from the store for the CLI. Values that do not decode are
/// skipped and named in `problems`, so one bad record never hides the rest.
struct LoadedRecords {
    var records: ClusterRecords
    var problems: [String]
    var revision: Revision
}

func loadRecords(from store: any Datastore) async throws -> LoadedRecords {
    let listing = try await store.list(prefix: StoreKeys.all)
    var problems: [String] = []
    func decode<T: Decodable>(_ type: T.Type, _ kv: KeyValue) -> T? {
        do { return try RecordCodec.decode(type, from: kv.value, key: kv.key) } catch {
            problems.append(error.message)
            return nil
        }
    }
    var records = ClusterRecords(config: nil, pools: [], leader: nil, claims: [:], peers: [:], verdicts: [:], statuses: [:])
    for kv in listing.items {
        let key = kv.key
        if key == StoreKeys.config { records.config = decode(ClusterConfig.self, kv) }
        else if key == StoreKeys.pools { records.pools = decode(PoolsRecord.self, kv)?.podCIDRPools ?? [] }
        else if key == StoreKeys.leader { records.leader = decode(LeaderRecord.self, kv) }
        else if let n = StoreKeys.nodeSuffix(of: key, prefix: StoreKeys.claimsPrefix) {
            records.claimKeys.insert(n)
            records.claims[n] = decode(ClaimRecord.self, kv)
        }
        else if let n = StoreKeys.nodeSuffix(of: key, prefix: StoreKeys.peersPrefix) {
            records.peers[n] = decode(PeerRecord.self, kv)
            records.peerRevisions[n] = kv.modRevision
        }
        else if let n = StoreKeys.nodeSuffix(of: key, prefix: StoreKeys.verdictsPrefix) { records.verdicts[n] = decode(VerdictRecord.self, kv) }
        else if let n = StoreKeys.nodeSuffix(of: key, prefix: StoreKeys.statusPrefix) { records.statuses[n] = decode(NodeStatusRecord.self, kv) }
    }
    return LoadedRecords(records: records, problems: problems, revision: listing.revision)
}
