import EtcdAPI
import Foundation
import MeshCore
@testable import MeshStoreEtcd
import Testing

/// The pure parts of the etcd adapter: prefix ranges, transactions, events. The conformance
/// suite checks the same semantics against a real etcd.
@Suite struct EtcdEncodingTests {
    @Test(arguments: [
        (Array("/meshguard/v1/".utf8), Array("/meshguard/v10".utf8)),
        ([0x61], [0x62]),
        ([0x61, 0x7f], [0x61, 0x80]),
        ([0x61, 0xfe], [0x61, 0xff]),
    ])
    func prefixEndIncrementsTheLastByte(prefix: [UInt8], end: [UInt8]) {
        #expect(prefixRangeEnd(prefix) == end)
    }

    @Test func prefixEndSkipsTrailingFFBytes() {
        #expect(prefixRangeEnd([0x61, 0xff]) == [0x62])
        #expect(prefixRangeEnd([0x61, 0xff, 0xff]) == [0x62])
        // Nothing to increment: to the end of the keyspace.
        #expect(prefixRangeEnd([0xff, 0xff]) == [0])
        #expect(prefixRangeEnd([]) == [0])
    }

    @Test func conditionsMapOntoEtcdCompares() {
        let transaction = Transaction(
            compares: [Compare("/a", .absent), Compare("/b", .present), Compare("/c", .modRevision(7)), Compare("/d", .createRevision(3))],
            success: [.put(key: "/a", value: [1, 2], lease: LeaseID(0x1f)), .put(key: "/e", value: [], lease: nil), .delete(key: "/b")],
            failure: [.delete(key: "/c")])
        let request = encodeTransaction(transaction)
        #expect(request.compare.map(\.key) == ["/a", "/b", "/c", "/d"].map { Data($0.utf8) })
        #expect(request.compare.map(\.target) == [.create, .create, .mod, .create])
        #expect(request.compare.map(\.result) == [.equal, .greater, .equal, .equal])
        #expect(request.compare.map(\.createRevision) == [0, 0, 0, 3])
        #expect(request.compare[2].modRevision == 7)

        #expect(request.success.count == 3)
        #expect(request.success[0].requestPut.key == Data("/a".utf8))
        #expect(request.success[0].requestPut.value == Data([1, 2]))
        #expect(request.success[0].requestPut.lease == 0x1f)
        // No lease: lease 0, which detaches the key from any lease it had.
        #expect(request.success[1].requestPut.lease == 0)
        #expect(request.success[2].requestDeleteRange.key == Data("/b".utf8))
        #expect(request.success[2].requestDeleteRange.rangeEnd.isEmpty, "one key, not a range")
        #expect(request.failure.map(\.requestDeleteRange.key) == [Data("/c".utf8)])
    }

    @Test func eventsAndKeyValues() {
        let kv = Etcdserverpb_KeyValue.with {
            $0.key = Data("/meshguard/v1/peers/n1".utf8)
            $0.value = Data("{}".utf8)
            $0.createRevision = 4
            $0.modRevision = 9
            $0.version = 3
            $0.lease = 0x55
        }
        #expect(decodeKeyValue(kv) == KeyValue(key: "/meshguard/v1/peers/n1", value: Array("{}".utf8), createRevision: 4,
                                                modRevision: 9, version: 3, lease: LeaseID(0x55)))
        #expect(decodeKeyValue(.with { $0.key = Data("k".utf8) }).lease == nil, "lease 0 is no lease")
        #expect(decodeEvent(.with { $0.type = .put; $0.kv = kv }) == .put(decodeKeyValue(kv)))
        let deletion = Etcdserverpb_Event.with {
            $0.type = .delete
            $0.kv = .with { $0.key = Data("/gone".utf8); $0.modRevision = 12 }
        }
        #expect(decodeEvent(deletion) == .delete(key: "/gone", revision: 12))
    }
}
