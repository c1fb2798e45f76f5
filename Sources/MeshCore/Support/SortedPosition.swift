extension Array {
    /// Where an element whose `key` equals `value` is, or would be inserted, in an array sorted
    /// by `key` with no two equal keys: found by binary search. The agent patches its sorted peer
    /// and route lists one element at a time on every change, where a scan of a thousand peers
    /// per change showed in the profile.
    func sortedPosition<Key: Comparable>(of value: Key, by key: (Element) -> Key) -> (index: Int, found: Bool) {
        var low = startIndex, high = endIndex
        while low < high {
            let mid = (low + high) / 2
            if key(self[mid]) < value { low = mid + 1 } else { high = mid }
        }
        return (low, low < endIndex && key(self[low]) == value)
    }
}
