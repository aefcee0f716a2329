import DUIS
import Storage
import Synchronization

/// Anomaly detection: per-user, per-SRV volume thresholds. A request beyond the number
/// allowed in the sliding window is quarantined and a DCC alert raised. A user's own
/// threshold for the SRV applies first, then the user's threshold for every SRV (`*`),
/// then DCC's default.
public final class AnomalyDetector: Sendable {
    public struct Breach: Sendable {
        public let threshold: AnomalyThreshold
        public let observed: Int
        /// True for a threshold the user set, false for DCC's own.
        public let isUserThreshold: Bool
    }

    private struct Window {
        var start: Int64
        var current: Int
        var previous: Int
    }

    /// A user's threshold for one SRV, or (`srv` nil) for every SRV (`*`).
    private struct Key: Hashable {
        let user: EUI64
        let srv: SRV?
    }

    private struct State {
        var thresholds: [Key: AnomalyThreshold] = [:]
        var windows: [Key: Window] = [:]
    }

    private let state = Mutex(State())
    public let defaultLimit: Int
    public let defaultWindowSeconds: Int

    public init(defaultLimit: Int, defaultWindowSeconds: Int) {
        self.defaultLimit = defaultLimit
        self.defaultWindowSeconds = defaultWindowSeconds
    }

    public func load(_ thresholds: [AnomalyThreshold]) {
        state.withLock { state in
            state.thresholds = [:]
            for threshold in thresholds {
                // The store keeps DUIS's text ("*" for every SRV); `gbsm anomaly set` writes
                // nothing else, so text that is neither is not a threshold.
                if threshold.srv == "*" {
                    state.thresholds[Key(user: threshold.user, srv: nil)] = threshold
                } else if let srv = SRV(threshold.srv) {
                    state.thresholds[Key(user: threshold.user, srv: srv)] = threshold
                }
            }
        }
    }

    public func thresholds() -> [AnomalyThreshold] { state.withLock { Array($0.thresholds.values) } }

    /// Counts the request and reports a breach if it is over its threshold. The window
    /// slides: the previous window's count is weighted by how much of it still overlaps.
    public func record(user: EUI64, srv: SRV, at time: Timestamp) -> Breach? {
        state.withLock { state in
            let key = Key(user: user, srv: srv)
            let threshold: AnomalyThreshold
            let isUser: Bool
            if let own = state.thresholds[key] ?? state.thresholds[Key(user: user, srv: nil)] {
                threshold = own
                isUser = true
            } else {
                threshold = AnomalyThreshold(user: user, srv: "*", limit: defaultLimit, windowSeconds: defaultWindowSeconds)
                isUser = false
            }
            let length = Int64(max(threshold.windowSeconds, 1)) * 1000
            var window = state.windows[key] ?? Window(start: time.milliseconds - time.milliseconds % length, current: 0, previous: 0)
            let elapsedWindows = (time.milliseconds - window.start) / length
            if elapsedWindows >= 2 {
                window = Window(start: time.milliseconds - time.milliseconds % length, current: 0, previous: 0)
            } else if elapsedWindows == 1 {
                window = Window(start: window.start + length, current: 0, previous: window.current)
            }
            window.current += 1
            state.windows[key] = window
            let overlap = Double(length - (time.milliseconds - window.start)) / Double(length)
            let estimate = Int((Double(window.previous) * overlap).rounded(.down)) + window.current
            return estimate > threshold.limit ? Breach(threshold: threshold, observed: estimate, isUserThreshold: isUser) : nil
        }
    }
}
