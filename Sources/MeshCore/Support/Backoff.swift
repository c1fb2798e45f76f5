/// Exponential backoff with a cap: 200 ms, 400 ms, … up to `maximum`. Pure; the caller sleeps.
public struct Backoff: Sendable, Hashable {
    public var initial: Duration
    public var maximum: Duration
    public private(set) var attempt = 0

    public init(initial: Duration = .milliseconds(200), maximum: Duration = .seconds(10)) {
        self.initial = initial
        self.maximum = maximum
    }

    /// The delay before the next try; each call doubles it up to `maximum`.
    public mutating func next() -> Duration {
        defer { attempt += 1 }
        var delay = initial
        for _ in 0..<min(attempt, 32) {
            delay *= 2
            if delay >= maximum { return maximum }
        }
        return min(delay, maximum)
    }

    public mutating func reset() { attempt = 0 }
}
