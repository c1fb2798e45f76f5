import EtcdAPI
import MeshCore

/// etcd's key-value as the core's. Keys are UTF-8 text in Meshguard; a key that is not
/// (written by something else under our prefix) is decoded with replacement characters rather
/// than dropped, so that it still shows up, and still fails to decode as a record, visibly.
func decodeKeyValue(_ kv: Etcdserverpb_KeyValue) -> KeyValue {
    KeyValue(key: String(decoding: kv.key, as: UTF8.self), value: [UInt8](kv.value),
             createRevision: kv.createRevision, modRevision: kv.modRevision, version: kv.version,
             lease: kv.lease == 0 ? nil : LeaseID(kv.lease))
}

/// A watch event as the core's: a put carries the new key-value; a delete (explicit or by
/// lease expiry) carries the key and the deletion's revision in `kv.mod_revision`.
func decodeEvent(_ event: Etcdserverpb_Event) -> WatchEvent {
    switch event.type {
    case .delete:
        .delete(key: String(decoding: event.kv.key, as: UTF8.self), revision: event.kv.modRevision)
    default:
        .put(decodeKeyValue(event.kv))
    }
}
