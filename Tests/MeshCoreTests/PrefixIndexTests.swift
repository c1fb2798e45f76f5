import MeshCore
import MeshTestKit
import Testing

@Suite struct PrefixIndexTests {
    @Test(arguments: [
        ("10.244.1.0/24", "10.244.1.0/24"), ("10.244.1.128/25", "10.244.1.0/24"), ("10.244.0.0/16", "10.244.1.0/24"),
        ("10.244.1.7/32", "10.244.1.0/24"),
    ])
    func findsOverlapsEitherWay(query: String, owned: String) {
        var index = PrefixIndex<String>()
        index.insert(.must("10.244.1.0/24"), owner: "n1")
        index.insert(.must("10.245.0.0/16"), owner: "n2")
        let hit = index.firstOverlap(with: .must(query))
        #expect(hit?.prefix == .must(owned) && hit?.owner == "n1")
        #expect(index.firstOverlap(with: .must(query), excluding: "n1")?.owner != "n1")
    }

    @Test func noOverlap() {
        var index = PrefixIndex<String>()
        index.insert(.must("10.244.1.0/24"), owner: "n1")
        index.insert(.must("2001:db8::/64"), owner: "n1")
        for query in ["10.244.2.0/24", "10.244.0.0/24", "10.245.0.0/16", "2001:db8:1::/64", "10.244.1.0/24"] {
            let excluded = query == "10.244.1.0/24" ? "n1" : nil
            #expect(index.firstOverlap(with: .must(query), excluding: excluded) == nil, "\(query)")
        }
        #expect(index.firstOverlap(with: .must("2001:db8::/32"))?.owner == "n1")
        index.insert(.must("10.245.0.0/16"), owner: "n2")
        // The whole space overlaps both; either answer is right, and excluding one leaves the other.
        #expect(index.firstOverlap(with: .must("0.0.0.0/0")) != nil)
        #expect(index.firstOverlap(with: .must("0.0.0.0/0"), excluding: "n1")?.owner == "n2")
    }

    @Test func removal() {
        var index = PrefixIndex<String>()
        index.insert(.must("10.244.1.0/24"), owner: "n1")
        index.insert(.must("10.244.2.0/24"), owner: "n1")
        index.insert(.must("10.244.3.0/24"), owner: "n3")
        index.insert(.must("fd00:3::/64"), owner: "n3")
        // A prefix that is not stored, one that merely overlaps a stored one: nothing goes.
        index.remove(.must("10.244.4.0/24"))
        index.remove(.must("10.244.1.0/25"))
        index.remove(.must("fd00:3::/65"))
        #expect(index.count == 4)
        index.remove(.must("10.244.1.0/24"))
        index.remove(.must("10.244.2.0/24"))
        #expect(index.count == 2)
        #expect(index.firstOverlap(with: .must("10.244.0.0/16"))?.owner == "n3")
        index.remove(.must("10.244.3.0/24"))
        index.remove(.must("fd00:3::/64"))
        #expect(index.firstOverlap(with: .must("0.0.0.0/0")) == nil && index.count == 0)
    }

    @Test func thousandsOfPrefixesStayFast() {
        // 20,000 /24s: every insertion checks overlap first, as the agent and controller do.
        var index = PrefixIndex<Int>()
        for i in 0..<20_000 {
            let prefix = IPPrefix.must("10.\(i / 256).\(i % 256).0/24")
            #expect(index.firstOverlap(with: prefix) == nil)
            index.insert(prefix, owner: i)
        }
        #expect(index.firstOverlap(with: .must("10.77.0.0/16"))?.prefix.length == 24)
    }

    @Test func conflictsMatchInsertingInOrder() {
        let disjoint: [(prefix: IPPrefix, owner: String)] = [(.must("10.244.3.0/24"), "c"), (.must("10.244.1.0/24"), "a"), (.must("2001:db8::/64"), "a")]
        #expect(PrefixIndex.conflicts(in: disjoint).isEmpty)

        let overlapping: [(prefix: IPPrefix, owner: String)] = [
            (.must("10.244.1.0/24"), "a"), (.must("10.244.0.0/16"), "b"), (.must("10.244.2.0/24"), "c"), (.must("10.244.1.128/25"), "d"),
        ]
        let conflicts = PrefixIndex.conflicts(in: overlapping)
        #expect(conflicts.keys.sorted() == [1, 3])
        #expect(conflicts[1]?.owner == "a" && conflicts[3]?.prefix == .must("10.244.1.0/24"))
        let index = PrefixIndex(disjoint: [.must("10.244.9.0/24"), .must("10.244.1.0/24")], owner: true)
        #expect(index.firstOverlap(with: .must("10.244.9.7/32"))?.prefix == .must("10.244.9.0/24"))
    }
}
