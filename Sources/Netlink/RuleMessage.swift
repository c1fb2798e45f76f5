/// A policy rule as `RTM_NEWRULE` reports it, or as a request adds or deletes it. Only the
/// selectors the mesh uses are modelled; ``hasOtherSelectors`` says a parsed rule had more.
package struct RuleMessage: Hashable, Sendable {
    package var family: AddressFamily
    package var action: RuleAction
    /// `FIB_RULE_INVERT`: the `not` in `not fwmark M/M`.
    package var invert: Bool
    package var priority: UInt32
    package var fwmark: UInt32
    package var fwmask: UInt32
    package var table: UInt32
    /// Parsed rules only: the rule also matches on something not modelled here (source or
    /// destination prefix, TOS, interface, uid range, ports, …) or has a goto target.
    package var hasOtherSelectors = false

    package init(family: AddressFamily, action: RuleAction, invert: Bool, priority: UInt32,
                 fwmark: UInt32, fwmask: UInt32, table: UInt32) {
        self.family = family
        self.action = action
        self.invert = invert
        self.priority = priority
        self.fwmark = fwmark
        self.fwmask = fwmask
        self.table = table
    }
}
