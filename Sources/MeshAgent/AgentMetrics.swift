import CoreMetrics
import MeshCore
import Synchronization

/// The agent's Prometheus metrics, through swift-metrics (the executable installs the
/// Prometheus backend). Per-peer series are destroyed when the peer goes away, so a removed node
/// does not linger in `/metrics`.
final class AgentMetrics: Sendable {
    let peersProgrammed = Gauge(label: "meshguard_peers_programmed")
    let syncErrors = Counter(label: "meshguard_sync_errors_total")
    let reconciles = Counter(label: "meshguard_reconciles_total")
    let applyDuration = Timer(label: "meshguard_apply_duration_seconds", preferredDisplayUnit: .seconds)
    let inSync = Gauge(label: "meshguard_in_sync")
    let storeRevision = Gauge(label: "meshguard_applied_revision")

    private struct PeerSeries {
        let rx: Gauge
        let tx: Gauge
        let handshake: Gauge
    }
    private let peers = Mutex<(series: [String: PeerSeries], names: [String])>(([:], []))

    init(backend: WireGuardBackendKind) {
        Gauge(label: "meshguard_backend_info", dimensions: [("backend", backend.rawValue)]).record(1)
    }

    /// Sets the peer count and the per-peer series. `values: false` (a status written for a
    /// change, whose counters repeat the last read) only adds and removes series; updating
    /// three gauges for each of N peers on every change showed in the 100-node profile.
    func recordPeers(_ records: [NodeStatusRecord.Peer], values: Bool = true) {
        peersProgrammed.record(records.count)
        peers.withLock { state in
            // The same peers as last time and no values to set: nothing to do. Comparing the
            // lists costs little (the strings are the cached entries' own); building a set of
            // a thousand names for every status did not.
            let list = records.map(\.node)
            if !values && list == state.names { return }
            state.names = list
            let names = Set(list)
            for (name, gone) in state.series where !names.contains(name) {
                gone.rx.destroy()
                gone.tx.destroy()
                gone.handshake.destroy()
                state.series[name] = nil
            }
            for peer in records {
                if !values, state.series[peer.node] != nil { continue }
                let s = state.series[peer.node] ?? PeerSeries(
                    rx: Gauge(label: "meshguard_peer_rx_bytes", dimensions: [("peer", peer.node)]),
                    tx: Gauge(label: "meshguard_peer_tx_bytes", dimensions: [("peer", peer.node)]),
                    handshake: Gauge(label: "meshguard_peer_last_handshake_seconds", dimensions: [("peer", peer.node)]))
                state.series[peer.node] = s
                s.rx.record(Double(peer.rxBytes))
                s.tx.record(Double(peer.txBytes))
                s.handshake.record(peer.lastHandshake?.seconds ?? 0)
            }
        }
    }
}
