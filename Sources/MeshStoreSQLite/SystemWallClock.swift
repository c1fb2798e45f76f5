import Foundation
import MeshCore

/// The host's wall clock. Lease expiry times are wall-clock instants because several processes
/// on the host share one database file and each must agree on when a lease has run out.
struct SystemWallClock: WallClock {
    func now() -> Timestamp { Timestamp(seconds: Date().timeIntervalSince1970) }
}
