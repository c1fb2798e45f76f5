import CLibMNL

extension RuleMessage {
    /// Parses an `RTM_NEWRULE` message, undoing the kernel's shorthand in rule dumps
    /// (`fib_nl_fill_rule`):
    /// - `FRA_PRIORITY` is left out for priority 0 (the `lookup local` rule);
    /// - `FRA_FWMARK` and `FRA_FWMASK` are left out when mark and mask are both 0;
    /// - some kernels also leave out `FRA_FWMASK` when it is `0xffffffff` (a bare `fwmark M`);
    /// - `FRA_TABLE` holds the full table id; the header byte says `RT_TABLE_COMPAT` (252)
    ///   for ids above 255.
    ///
    /// Attributes other than priority, mark, mask, table and `FRA_PROTOCOL` (who added the
    /// rule) set ``hasOtherSelectors``, except `FRA_SUPPRESS_PREFIXLEN`/`FRA_SUPPRESS_IFGROUP`
    /// holding -1 ("unset"), which kernel 6.18 sends with every rule. An allow-list, so a
    /// selector added by a newer kernel makes the rule "not ours" rather than silently being
    /// read as `from all`.
    /// - Throws: `.malformedMessage` for another message type, a short header, or a bad attribute.
    package init(parsing message: NetlinkMessage) throws(NetlinkError) {
        guard message.type == UInt16(RTM_NEWRULE) else {
            throw NetlinkError(.malformedMessage, "expected RTM_NEWRULE, got message type \(message.type)")
        }
        let header = try message.familyHeader(fib_rule_hdr.self)
        let attributes = try message.attributes(afterHeaderOfSize: MemoryLayout<fib_rule_hdr>.size)
        let mark = try attributes.u32(UInt16(FRA_FWMARK))
        let mask = try attributes.u32(UInt16(FRA_FWMASK)) ?? (mark == nil ? 0 : 0xFFFF_FFFF)
        self.init(family: AddressFamily(rawValue: header.family), action: RuleAction(rawValue: header.action),
                  invert: header.flags & UInt32(FIB_RULE_INVERT) != 0,
                  priority: try attributes.u32(UInt16(FRA_PRIORITY)) ?? 0,
                  fwmark: mark ?? 0, fwmask: mask,
                  table: try attributes.u32(UInt16(FRA_TABLE)) ?? UInt32(header.table))
        let modelled: Set<UInt16> = [UInt16(FRA_PRIORITY), UInt16(FRA_FWMARK), UInt16(FRA_FWMASK),
                                     UInt16(FRA_TABLE), UInt16(FRA_PROTOCOL)]
        let unsetWhenAllOnes: Set<UInt16> = [UInt16(FRA_SUPPRESS_PREFIXLEN), UInt16(FRA_SUPPRESS_IFGROUP)]
        hasOtherSelectors = header.src_len != 0 || header.dst_len != 0 || header.tos != 0
            || attributes.all.contains { attribute in
                if modelled.contains(attribute.type) { return false }
                return !(unsetWhenAllOnes.contains(attribute.type) && attribute.payload.elementsEqual([0xFF, 0xFF, 0xFF, 0xFF]))
            }
    }
}
