/// etcd selects a prefix as the range [prefix, prefix + 1): the key with its last byte that is
/// not 0xff incremented and everything after it dropped ("aa" → "ab", "a\xff" → "b"). A
/// prefix of only 0xff bytes (or an empty one) has no end: "\0" means "to the end of the
/// keyspace".
func prefixRangeEnd(_ prefix: [UInt8]) -> [UInt8] {
    var end = prefix
    while let last = end.last {
        if last < 0xff {
            end[end.count - 1] = last + 1
            return end
        }
        end.removeLast()
    }
    return [0]
}
