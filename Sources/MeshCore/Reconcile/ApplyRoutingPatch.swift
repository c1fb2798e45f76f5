// What the link, a routing table and the rule list look like once a patch from
// PlanRouting.swift went through: the agent plans the next change against these instead of
// dumping links, routes and rules again (see DeviceState.applying for the device).

extension LinkState {
    /// The link after `patch`: MTU and up flag as set, addresses removed and added.
    public func applying(_ patch: LinkPatch) -> LinkState {
        var next = self
        if let mtu = patch.mtu { next.mtu = mtu }
        if let up = patch.up { next.isUp = up }
        let removed = Set(patch.removeAddresses)
        next.addresses = next.addresses.filter { !removed.contains($0) }
        for address in patch.addAddresses where !next.addresses.contains(address) { next.addresses.append(address) }
        return next
    }
}

extension RoutePatch {
    /// The table's routes after the patch: a replaced destination has only its new route, a
    /// deleted one none. The routes it does not name keep their order, the replaced ones
    /// follow (not sorted again: re-sorting a thousand routes for one new one showed in the
    /// thousand-node profile, and plans compare routes as sets).
    public func applied(to observed: [RouteSpec]) -> [RouteSpec] {
        guard !replace.isEmpty || !delete.isEmpty else { return observed }
        let touched = Set(replace.map(\.destination)).union(delete.map(\.destination))
        return observed.filter { !touched.contains($0.destination) } + replace
    }
}

extension RulePatch {
    /// The rule list after the patch; rules the patch does not name stay as they were.
    public func applied(to observed: [RuleSpec]) -> [RuleSpec] {
        observed.filter { !delete.contains($0) } + add
    }
}
