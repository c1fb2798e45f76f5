/// Wall-clock time as seconds since the Unix epoch, injected so that loops stay testable.
/// Durations and sleeps use Swift's `Clock`; this is only for timestamps written to records.
public protocol WallClock: Sendable {
    func now() -> Timestamp
}

/// Seconds (with fraction) since the Unix epoch.
public struct Timestamp: Hashable, Comparable, Sendable, Codable, CustomStringConvertible {
    public var seconds: Double
    public init(seconds: Double) { self.seconds = seconds }
    public static func < (a: Timestamp, b: Timestamp) -> Bool { a.seconds < b.seconds }
    public var description: String { String(seconds) }

    public init(from decoder: any Decoder) throws {
        seconds = try decoder.singleValueContainer().decode(Double.self)
    }
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(seconds)
    }
}
