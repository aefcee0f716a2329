import Synchronization

/// Counts of device requests by outcome, and their time at the device boundary.
final class DeviceMetrics: Sendable {
    private let state = Mutex<(counts: [String: Int], durations: [Double])>(([:], []))

    func record(outcome: String, duration: Duration) {
        let seconds = Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
        state.withLock { state in
            state.counts[outcome, default: 0] += 1
            if state.durations.count < 1_000_000 { state.durations.append(seconds) }
        }
    }

    var counts: [String: Int] { state.withLock { $0.counts } }
}
