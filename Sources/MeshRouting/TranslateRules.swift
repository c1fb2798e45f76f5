import MeshCore
import Netlink

/// `[not] fwmark M/MASK lookup TABLE pref PRIORITY`: action "to table", `FIB_RULE_INVERT` for `not`.
package func ruleMessage(_ rule: RuleSpec) -> RuleMessage {
    RuleMessage(family: addressFamily(rule.family), action: .toTable, invert: rule.invert,
                priority: rule.priority, fwmark: rule.fwmark, fwmask: rule.fwmask, table: rule.table)
}

/// The ``RuleSpec`` for a dumped rule, or nil for a rule the port cannot describe (another
/// family, an action other than "lookup a table", or selectors beyond the fwmark). Such rules
/// are never reported, so a caller can neither mistake one for its own nor delete it.
package func ruleSpec(_ message: RuleMessage, family: IPAddress.Family) -> RuleSpec? {
    guard message.family == addressFamily(family), message.action == .toTable, !message.hasOtherSelectors
    else { return nil }
    return RuleSpec(family: family, priority: message.priority, fwmark: message.fwmark,
                    fwmask: message.fwmask, table: message.table, invert: message.invert)
}
