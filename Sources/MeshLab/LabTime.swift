import Foundation

/// How much slower than a native machine this one runs the lab, from
/// `MESHGUARD_LAB_TIME_SCALE` (default 1). Under QEMU's software emulation (the kernel tests)
/// processes start and packets move 10–30 times slower; every timeout and timing of the lab,
/// of ``MeshCluster`` and of the tests is multiplied by this factor, so that the same checks
/// hold there without being loosened here.
public enum LabTime {
    public static let scale: Double = {
        guard let text = ProcessInfo.processInfo.environment["MESHGUARD_LAB_TIME_SCALE"], let value = Double(text),
              value >= 1, value <= 100 else { return 1 }
        return value
    }()

    /// `duration` stretched by ``scale``.
    public static func scaled(_ duration: Duration) -> Duration { duration * scale }

    /// Whole seconds stretched by ``scale``, for command-line flags.
    public static func scaled(seconds: Int) -> Int { Int((Double(seconds) * scale).rounded(.up)) }
}
