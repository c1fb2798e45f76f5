import Glibc

/// One pass of a dump: its data messages, and whether the kernel flagged it inconsistent.
package struct DumpAttempt {
    package var messages: [NetlinkMessage]
    package var interrupted: Bool
    package init(messages: [NetlinkMessage], interrupted: Bool) {
        self.messages = messages
        self.interrupted = interrupted
    }
}

/// Runs `attempt` until it returns an uninterrupted dump, at most `maxAttempts` times.
///
/// `NLM_F_DUMP_INTR` means objects changed between the parts of a dump, so the parts may
/// miss or repeat objects; only a fresh dump is trustworthy (wg(8) restarts too). The bound
/// keeps a host whose routes churn without pause from looping forever.
/// - Throws: `.dumpInterrupted` when every attempt was interrupted; `attempt`'s errors as they come.
package func retryingInterruptedDump(maxAttempts: Int,
                             _ attempt: () throws(NetlinkError) -> DumpAttempt) throws(NetlinkError) -> [NetlinkMessage] {
    precondition(maxAttempts >= 1, "a dump needs at least one attempt")
    for _ in 0..<maxAttempts {
        var result = try attempt()
        if !result.interrupted { return result.messages }
        // A discarded dump may hold secrets (a WireGuard dump carries the private key).
        for i in result.messages.indices {
            result.messages[i].payload.withUnsafeMutableBytes { bytes in
                if let base = bytes.baseAddress { explicit_bzero(base, bytes.count) }
            }
        }
    }
    throw NetlinkError(.dumpInterrupted, "dump still inconsistent (NLM_F_DUMP_INTR) after \(maxAttempts) attempts")
}
