import Foundation
// CoreFoundation: in a release build timespec's members resolve to its copy of the C type.
import CoreFoundation

func measure(_ body: () async throws -> Void) async rethrows -> Duration {
    let start = ContinuousClock.now
    try await body()
    return ContinuousClock.now - start
}

func median(_ values: [Duration]) -> Duration {
    let sorted = values.sorted()
    return sorted.count % 2 == 1 ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
}

/// The nearest-rank percentile `p` (0…100) of `values`, which must not be empty.
func percentile(_ p: Double, of values: [Duration]) -> Duration {
    let sorted = values.sorted()
    let rank = Int((p / 100 * Double(sorted.count)).rounded(.up))
    return sorted[min(max(rank, 1), sorted.count) - 1]
}

extension Duration {
    var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

func milliseconds(_ d: Duration) -> String {
    String(format: "%.1f ms", d.seconds * 1e3)
}

/// The host's real-time clock in nanoseconds since the epoch: comparable across processes.
func wallClockNanoseconds() -> Int64 {
    var time = timespec()
    clock_gettime(CLOCK_REALTIME, &time)
    return Int64(time.tv_sec) * 1_000_000_000 + Int64(time.tv_nsec)
}
