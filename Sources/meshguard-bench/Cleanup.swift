import Foundation
import Synchronization

/// Undo actions for what the benchmark created (namespaces, processes, files), run in reverse
/// order of registration: by the code that created them when it is done or fails, and by the
/// SIGINT/SIGTERM handler when the benchmark is interrupted, so nothing is left behind.
final class Cleanup: Sendable {
    static let shared = Cleanup()

    struct Token: Hashable, Sendable { fileprivate let id: Int }

    private let actions = Mutex<(next: Int, pending: [(id: Int, run: @Sendable () -> Void)])>((0, []))

    /// Registers `action`; `perform(_:)` runs it once, or the signal handler does.
    func register(_ action: @escaping @Sendable () -> Void) -> Token {
        actions.withLock { state in
            state.next += 1
            state.pending.append((state.next, action))
            return Token(id: state.next)
        }
    }

    /// Runs the action of `token` now (once; later calls do nothing).
    func perform(_ token: Token) {
        let action = actions.withLock { state -> (@Sendable () -> Void)? in
            guard let index = state.pending.firstIndex(where: { $0.id == token.id }) else { return nil }
            return state.pending.remove(at: index).run
        }
        action?()
    }

    /// Forgets the action of `token` without running it (what it would undo is gone already).
    func dismiss(_ token: Token) {
        actions.withLock { state in state.pending.removeAll { $0.id == token.id } }
    }

    /// Runs every pending action, newest first.
    func performAll() {
        while let action = actions.withLock({ $0.pending.popLast()?.run }) { action() }
    }

    /// On SIGINT or SIGTERM: undo everything, then exit with 128 + the signal.
    func installSignalHandlers() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: signalNumber, queue: .global())
            source.setEventHandler { [self] in
                FileHandle.standardError.write(Data("meshguard-bench: interrupted; cleaning up\n".utf8))
                performAll()
                exit(128 + signalNumber)
            }
            source.resume()
            signalSources.append(source)
        }
    }
}

/// Keeps the signal sources alive; written once, by `installSignalHandlers()` at start-up.
nonisolated(unsafe) private var signalSources: [any DispatchSourceSignal] = []
