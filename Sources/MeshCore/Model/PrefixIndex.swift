/// Disjoint prefixes with an owner each, answering "does this prefix overlap one owned by
/// someone else?" in O(log n): a node with thousands of peers checks every CIDR against all the
/// others on every pass, and so does the controller for every claim.
///
/// Prefixes are kept as address intervals sorted by start, per family. Because stored prefixes
/// never overlap each other (``insert(_:owner:)`` refuses one that would), their ends are sorted
/// too, and the stored prefixes overlapping a query form one contiguous run found by binary search.
public struct PrefixIndex<Owner: Hashable & Sendable>: Sendable {
    private struct Entry: Sendable {
        var start: UInt128
        var end: UInt128
        var prefix: IPPrefix
        var owner: Owner
    }
    private var v4: [Entry] = []
    private var v6: [Entry] = []

    public init() {}

    /// An index of prefixes known not to overlap (the kept side of ``conflicts(in:)``), all
    /// owned by `owner`; built with one sort.
    public init(disjoint prefixes: [IPPrefix], owner: Owner) {
        for prefix in prefixes.sorted(by: { $0.interval.start < $1.interval.start }) {
            let (start, end) = prefix.interval
            let entry = Entry(start: start, end: end, prefix: prefix, owner: owner)
            if prefix.family == .inet { v4.append(entry) } else { v6.append(entry) }
        }
    }

    public var count: Int { v4.count + v6.count }
    public var prefixes: [IPPrefix] { (v4 + v6).map(\.prefix) }

    public func owner(of prefix: IPPrefix) -> Owner? {
        let (start, _) = prefix.interval
        let entries = prefix.family == .inet ? v4 : v6
        let i = Self.lastStarting(atOrBefore: start, in: entries)
        guard let i, entries[i].prefix == prefix else { return nil }
        return entries[i].owner
    }

    /// Adds `prefix` for `owner`. Returns false, and stores nothing, when it overlaps a stored
    /// prefix (of any owner, itself included).
    @discardableResult
    public mutating func insert(_ prefix: IPPrefix, owner: Owner) -> Bool {
        guard firstOverlap(with: prefix) == nil else { return false }
        let (start, end) = prefix.interval
        let entry = Entry(start: start, end: end, prefix: prefix, owner: owner)
        if prefix.family == .inet {
            v4.insert(entry, at: (Self.lastStarting(atOrBefore: start, in: v4) ?? -1) + 1)
        } else {
            v6.insert(entry, at: (Self.lastStarting(atOrBefore: start, in: v6) ?? -1) + 1)
        }
        return true
    }

    /// Removes `prefix` if it is stored (found by binary search, not a scan: the controller
    /// moves prefixes between owners once per claim).
    public mutating func remove(_ prefix: IPPrefix) {
        let (start, _) = prefix.interval
        if prefix.family == .inet {
            if let i = Self.lastStarting(atOrBefore: start, in: v4), v4[i].prefix == prefix { v4.remove(at: i) }
        } else {
            if let i = Self.lastStarting(atOrBefore: start, in: v6), v6[i].prefix == prefix { v6.remove(at: i) }
        }
    }

    /// A stored prefix overlapping `prefix` whose owner is not `excluded`, with its owner.
    public func firstOverlap(with prefix: IPPrefix, excluding excluded: Owner? = nil) -> (prefix: IPPrefix, owner: Owner)? {
        let (start, end) = prefix.interval
        let entries = prefix.family == .inet ? v4 : v6
        // Walk back from the last stored interval starting at or before our end: every one that
        // still reaches our start overlaps; the first that does not ends the run.
        var i = Self.lastStarting(atOrBefore: end, in: entries)
        while let j = i, entries[j].end >= start {
            if entries[j].owner != excluded { return (entries[j].prefix, entries[j].owner) }
            i = j > 0 ? j - 1 : nil
        }
        return nil
    }

    private static func lastStarting(atOrBefore value: UInt128, in entries: [Entry]) -> Int? {
        var low = 0, high = entries.count
        while low < high {
            let mid = (low + high) / 2
            if entries[mid].start <= value { low = mid + 1 } else { high = mid }
        }
        return low == 0 ? nil : low - 1
    }
}

extension IPPrefix {
    /// The first and last address of the prefix, as integers.
    var interval: (start: UInt128, end: UInt128) {
        switch address {
        case .v4(let v):
            let size = UInt128(1) << UInt128(32 - length)
            return (UInt128(v), UInt128(v) + size - 1)
        case .v6(let v):
            let hostBits: UInt128 = length == 0 ? ~0 : (length == 128 ? 0 : ~UInt128(0) >> UInt128(length))
            return (v, v | hostBits)
        }
    }
}

extension PrefixIndex {
    /// Which of `items` overlap an earlier one that is kept: the same outcome as inserting them
    /// one by one in order, keyed by item position. When nothing overlaps at all (a healthy mesh)
    /// it costs one sort and no insertions.
    public static func conflicts(in items: [(prefix: IPPrefix, owner: Owner)]) -> [Int: (prefix: IPPrefix, owner: Owner)] {
        let intervals = items.map(\.prefix.interval)
        let order = items.indices.sorted {
            let (a, b) = (items[$0].prefix.family == .inet, items[$1].prefix.family == .inet)
            return a != b ? a : intervals[$0].start < intervals[$1].start
        }
        let anyOverlap = zip(order, order.dropFirst()).contains { a, b in
            items[a].prefix.family == items[b].prefix.family && intervals[b].start <= intervals[a].end
        }
        guard anyOverlap else { return [:] }
        var index = PrefixIndex()
        var conflicts: [Int: (prefix: IPPrefix, owner: Owner)] = [:]
        for (i, item) in items.enumerated() {
            if let hit = index.firstOverlap(with: item.prefix) {
                conflicts[i] = hit
            } else {
                index.insert(item.prefix, owner: item.owner)
            }
        }
        return conflicts
    }
}
