import CLibMNL

package enum RuleRequest {
    /// `RTM_GETRULE` dump of `family`'s rules.
    package static func dump(family: AddressFamily) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(RTM_GETRULE), flags: [.request, .dump])
        var header = fib_rule_hdr()
        header.family = family.rawValue
        try request.appendHeader(header)
        return request.bytes
    }

    /// `RTM_NEWRULE` with `NLM_F_CREATE | NLM_F_EXCL`: `EEXIST` when a rule with the same
    /// selectors, action and priority exists.
    package static func add(_ rule: RuleMessage) throws(NetlinkError) -> [UInt8] {
        try build(RTM_NEWRULE, [.request, .acknowledge, .create, .exclusive], rule)
    }

    /// `RTM_DELRULE` with the same selectors: `ENOENT` when no rule matches. The kernel treats
    /// a zero priority, mark, mask or table as "any", so a rule at priority 0 is matched by
    /// its other selectors only.
    package static func delete(_ rule: RuleMessage) throws(NetlinkError) -> [UInt8] {
        try build(RTM_DELRULE, [.request, .acknowledge], rule)
    }

    /// `fib_rule_hdr`, then `FRA_PRIORITY`, `FRA_FWMARK` and `FRA_FWMASK` (unless both are 0:
    /// no mark selector, as `ip rule` sends it), `FRA_TABLE` (u32, always: the header byte
    /// cannot hold ids above 255).
    private static func build(_ type: Int, _ flags: NetlinkFlags, _ rule: RuleMessage) throws(NetlinkError) -> [UInt8] {
        var request = NetlinkRequest(type: UInt16(type), flags: flags)
        var header = fib_rule_hdr()
        header.family = rule.family.rawValue
        header.table = tableByte(rule.table)
        header.action = rule.action.rawValue
        header.flags = rule.invert ? UInt32(FIB_RULE_INVERT) : 0
        try request.appendHeader(header)
        try request.put(UInt16(FRA_PRIORITY), u32: rule.priority)
        if rule.fwmark != 0 || rule.fwmask != 0 {
            try request.put(UInt16(FRA_FWMARK), u32: rule.fwmark)
            try request.put(UInt16(FRA_FWMASK), u32: rule.fwmask)
        }
        try request.put(UInt16(FRA_TABLE), u32: rule.table)
        return request.bytes
    }
}
