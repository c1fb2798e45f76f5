import Foundation
import MeshCore
import Testing

/// Consumes a watch in a task of its own and records what arrives, so that tests can await
/// conditions on it with a deadline instead of sleeping.
actor WatchRecorder {
    struct Arrival: Sendable {
        /// Wall-clock nanoseconds when the batch came out of the stream.
        let at: Int64
        let batch: WatchBatch
    }

    enum Ending: Sendable {
        case finished
        case failed(any Error)
    }

    struct Timeout: Error, CustomStringConvertible {
        let description: String
    }

    private(set) var arrivals: [Arrival] = []
    private(set) var ending: Ending?
    private var waiters: [UUID: (condition: @Sendable (WatchRecorder.View) -> Bool,
                                 continuation: CheckedContinuation<Void, any Error>)] = [:]
    private var consumer: Task<Void, Never>?

    /// What a condition may look at.
    struct View: Sendable {
        let arrivals: [Arrival]
        let ending: Ending?
        var events: [WatchEvent] { arrivals.flatMap(\.batch.events) }
    }

    var view: View { View(arrivals: arrivals, ending: ending) }
    var events: [WatchEvent] { view.events }
    var batches: [WatchBatch] { arrivals.map(\.batch) }

    /// Starts consuming `stream`.
    static func start(_ stream: AsyncThrowingStream<WatchBatch, any Error>) async -> WatchRecorder {
        let recorder = WatchRecorder()
        await recorder.consume(stream)
        return recorder
    }

    private func consume(_ stream: AsyncThrowingStream<WatchBatch, any Error>) {
        consumer = Task {
            do {
                for try await batch in stream {
                    self.record(batch, at: wallClockNanoseconds())
                }
                self.end(.finished)
            } catch {
                self.end(.failed(error))
            }
        }
    }

    /// Cancels the consuming task, as a watch's owner going away does, and waits for it to end.
    func cancel() async {
        consumer?.cancel()
        await consumer?.value
    }

    private func record(_ batch: WatchBatch, at time: Int64) {
        arrivals.append(Arrival(at: time, batch: batch))
        check()
    }

    private func end(_ ending: Ending) {
        self.ending = ending
        check()
        // Nothing more will arrive: whoever still waits, waits in vain.
        for (id, waiter) in waiters {
            waiters[id] = nil
            waiter.continuation.resume(throwing: Timeout(description: "watch ended (\(ending)) before the condition held"))
        }
    }

    private func check() {
        let view = self.view
        for (id, waiter) in waiters where waiter.condition(view) {
            waiters[id] = nil
            waiter.continuation.resume()
        }
    }

    /// Waits until `condition` holds; throws ``Timeout`` after `timeout` or if the watch ends
    /// without it holding.
    func wait(for what: String, timeout: Duration = .seconds(10),
              until condition: @escaping @Sendable (View) -> Bool) async throws {
        if condition(view) { return }
        if let ending {
            throw Timeout(description: "watch ended (\(ending)) before \(what)")
        }
        let id = UUID()
        try await withCheckedThrowingContinuation { continuation in
            waiters[id] = (condition, continuation)
            Task {
                try? await Task.sleep(for: timeout)
                self.expire(id, what: what)
            }
        }
    }

    private func expire(_ id: UUID, what: String) {
        guard let waiter = waiters.removeValue(forKey: id) else { return }
        waiter.continuation.resume(throwing: Timeout(
            description: "timed out waiting for \(what); got \(view.events.count) events, ending \(String(describing: ending))"))
    }

    /// Waits for at least `count` events and returns all events so far.
    @discardableResult
    func waitForEvents(_ count: Int, timeout: Duration = .seconds(10)) async throws -> [WatchEvent] {
        try await wait(for: "\(count) events", timeout: timeout) { $0.events.count >= count }
        return events
    }

    /// Waits for the watch to end and returns its error (nil when it finished without one).
    func waitForEnd(timeout: Duration = .seconds(10)) async throws -> (any Error)? {
        try await wait(for: "the watch to end", timeout: timeout) { $0.ending != nil }
        if case .failed(let error) = ending { return error }
        return nil
    }
}

extension Array where Element == WatchEvent {
    /// Revisions in delivery order, one entry per event.
    var revisions: [Revision] { map(\.revision) }
}
